package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"

	"github.com/spf13/cobra"

	"gatehouse/app"
	"gatehouse/models"
	"gatehouse/provision"
	"gatehouse/store"
)

// newReencryptCmd is `gatehouse reencrypt`: the step of an encryption key rotation that moves
// every secret at rest to the new key, so that the old one can be retired
// (docs/administration.md#rotating-the-encryption-key).
func newReencryptCmd(getenv func(string) string, stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "reencrypt",
		Short: "Re-encrypt every secret at rest with GATEHOUSE_ENCRYPTION_KEY (a step of an encryption key rotation)",
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
		c, err := app.LoadConfig(getenv)
		if err != nil {
			return err
		}
		if err := existingDatabase(cmd.Context(), c.DatabaseURL); err != nil {
			return err
		}
		return withOperator(cmd.Context(), getenv, stderr, nil, func(ctx context.Context, svc *provision.Service) error {
			r, err := svc.ReencryptSecrets(ctx)
			for _, col := range slices.Sorted(maps.Keys(r.Resealed)) {
				fmt.Fprintf(stdout, "re-encrypted %d in %s\n", r.Resealed[col], col)
			}
			if err != nil {
				// Each batch commits: what moved stays moved, and a second run picks up the rest.
				return fmt.Errorf("%w (what was re-encrypted stays so; run reencrypt again to move the rest)", err)
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
			fmt.Fprintf(stdout, "every secret at rest is encrypted with GATEHOUSE_ENCRYPTION_KEY (key id %s, as every server's start-up log must show); GATEHOUSE_PREVIOUS_ENCRYPTION_KEYS can be removed\n", r.KeyID)
			return nil
		})
	}
	return cmd
}

// existingDatabase refuses a database Gatehouse has not made. Like every operator command,
// reencrypt would make one (a relative sqlite: path read from another directory than the
// server's, a mistyped URL), find nothing to move in it, and say that the previous keys can be
// removed. The URL is not shown: a PostgreSQL one may hold a password.
func existingDatabase(ctx context.Context, url string) error {
	const advice = "reencrypt moves the secrets of the servers' database: give it their GATEHOUSE_DATABASE_URL"
	if path, ok := store.SQLitePath(url); ok {
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("no Gatehouse database at %s (%w): %s (a relative path is read from the working directory)", path, err, advice)
		}
	}
	st, err := store.Open(ctx, url)
	if err != nil {
		return err
	}
	defer st.Close()
	if v, err := st.SchemaVersion(ctx); errors.Is(err, models.ErrUnavailable) {
		return err
	} else if err != nil || v == 0 {
		return fmt.Errorf("no Gatehouse database at GATEHOUSE_DATABASE_URL (it has no migrations): %s", advice)
	}
	return nil
}
