package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/spf13/cobra"

	"gatehouse/provision"
)

// newReencryptCmd is `gatehouse reencrypt`: the step of an encryption key rotation that moves
// every secret at rest to the new key, so that the old one can be retired
// (docs/administration.md#rotating-the-encryption-key).
func newReencryptCmd(getenv func(string) string, stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "reencrypt",
		Short: "Re-encrypt every secret at rest with GATEHOUSE_ENCRYPTION_KEY (a key rotation's second step)",
		Long: `Re-encrypt every secret at rest (signing keys, SAML SP keys, IdP client secrets, sign-in
state) with GATEHOUSE_ENCRYPTION_KEY, on the database directly (GATEHOUSE_DATABASE_URL). Values
encrypted with one of GATEHOUSE_PREVIOUS_ENCRYPTION_KEYS are decrypted with it and encrypted
again; the others stay. Run it after every server has the new key and the previous ones
configured; once it reports nothing left unreadable, remove the previous keys. Running it
again changes nothing. It exits 1 when some value no configured key decrypts (those are left
as they were). Recorded in the audit log with actor type "operator".`,
		Args: noArgs,
	}
	setEnvHelp(cmd, "server")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return withOperator(cmd.Context(), getenv, stderr, nil, func(ctx context.Context, svc *provision.Service) error {
			r, err := svc.ReencryptSecrets(ctx)
			for _, col := range slices.Sorted(maps.Keys(r.Resealed)) {
				fmt.Fprintf(stdout, "re-encrypted %d in %s\n", r.Resealed[col], col)
			}
			if err != nil {
				return err
			}
			unreadable := 0
			for _, col := range slices.Sorted(maps.Keys(r.Unreadable)) {
				unreadable += r.Unreadable[col]
				fmt.Fprintf(stderr, "%d in %s: no configured key decrypts them; they were left as they were\n", r.Unreadable[col], col)
			}
			if unreadable > 0 {
				return fmt.Errorf("%d values no configured key decrypts: keep the previous keys until they are gone or explained "+
					"(sign-in state expires within minutes; anything else needs the key that encrypted it)", unreadable)
			}
			fmt.Fprintln(stdout, "every secret at rest is encrypted with GATEHOUSE_ENCRYPTION_KEY; GATEHOUSE_PREVIOUS_ENCRYPTION_KEYS can be removed")
			return nil
		})
	}
	return cmd
}
