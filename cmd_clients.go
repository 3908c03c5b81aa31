package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"gatehouse/app"
	"gatehouse/models"
	"gatehouse/provision"
)

// newClientsCmd is `gatehouse clients`: integration clients managed on the database directly,
// for bootstrap and break-glass (a leaked secret when no admin client is at hand). Every change
// goes through the service layer, so its rules apply and the audit log records it with actor
// type "operator".
func newClientsCmd(getenv func(string) string, stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "clients",
		Short: "Create, list, rotate and revoke integration clients on the database directly",
		Long: `Manage integration clients on the database directly (GATEHOUSE_DATABASE_URL), without
the API: for bootstrap and break-glass. The database is migrated and bootstrapped first, as the
server would. Changes are recorded in the audit log with actor type "operator" and the
operating-system user. A secret is printed once, when created or rotated.`,
		// Without a subcommand it shows its help; with an unknown one it is a command-line
		// mistake (cobra would show the help and succeed).
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usage(cmd, fmt.Errorf("unknown command %q for %q", args[0], cmd.CommandPath()))
			}
			return cmd.Help()
		},
	}
	setEnvHelp(cmd, "server")
	var asJSON bool
	var workspace string

	create := &cobra.Command{
		Use:   "create --name NAME --scopes SCOPE[,SCOPE]",
		Short: "Create a client and print its id and secret (shown once)",
		Args:  noArgs,
	}
	var name string
	var scopes []string
	create.Flags().StringVar(&name, "name", "", "the client's name (required)")
	create.Flags().StringSliceVar(&scopes, "scopes", nil, "scopes: "+strings.Join(models.AllScopes, ", ")+" (required)")
	create.Flags().StringVar(&workspace, "workspace", "", "workspace id (default: the platform admin's workspace)")
	create.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	create.RunE = func(cmd *cobra.Command, _ []string) error {
		if name == "" || len(scopes) == 0 {
			return usage(cmd, fmt.Errorf("clients create needs --name and --scopes"))
		}
		flags := map[string]string{"name": "--name", "scopes": "--scopes", "workspaceId": "--workspace"}
		return withOperator(cmd.Context(), getenv, stderr, flags, func(ctx context.Context, svc *provision.Service) error {
			c, plain, err := svc.CreateIntegrationClient(ctx, provision.CreateIntegrationClientInput{Name: name, Scopes: scopes,
				WorkspaceID: &workspace})
			if err != nil {
				return err
			}
			return printClient(stdout, c, plain, asJSON)
		})
	}

	list := &cobra.Command{
		Use:   "list",
		Short: "List a workspace's clients (secrets are never shown)",
		Args:  noArgs,
	}
	list.Flags().StringVar(&workspace, "workspace", "", "workspace id (default: the platform admin's workspace)")
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	list.RunE = func(cmd *cobra.Command, _ []string) error {
		return withOperator(cmd.Context(), getenv, stderr, map[string]string{"workspaceId": "--workspace"}, func(ctx context.Context, svc *provision.Service) error {
			cs, err := svc.IntegrationClients(ctx, &workspace)
			if err != nil {
				return err
			}
			if asJSON {
				out := make([]clientJSON, len(cs))
				for i, c := range cs {
					out[i] = toClientJSON(c, "")
				}
				return writeJSON(stdout, out)
			}
			w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(w, "CLIENT_ID\tNAME\tSCOPES\tSTATUS\tPLATFORM_ADMIN\tCREATED\tWORKSPACE")
			for _, c := range cs {
				j := toClientJSON(c, "")
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%t\t%s\t%s\n", j.ClientID, j.Name, strings.Join(j.Scopes, ","),
					j.Status, j.PlatformAdmin, j.CreatedAt, j.WorkspaceID)
			}
			return w.Flush()
		})
	}

	clientArg := map[string]string{"clientId": "CLIENT_ID"}
	rotate := &cobra.Command{
		Use:   "rotate CLIENT_ID",
		Short: "Replace a client's secret and print the new one (shown once); issued tokens expire as usual",
		Args:  exactArgs(1),
	}
	rotate.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	rotate.RunE = func(cmd *cobra.Command, args []string) error {
		return withOperator(cmd.Context(), getenv, stderr, clientArg, func(ctx context.Context, svc *provision.Service) error {
			c, plain, err := svc.RotateIntegrationClientSecret(ctx, args[0])
			if err != nil {
				return err
			}
			return printClient(stdout, c, plain, asJSON)
		})
	}

	revoke := &cobra.Command{
		Use:   "revoke CLIENT_ID",
		Short: "Revoke a client: no new tokens, and its tokens stop working within seconds on every replica",
		Args:  exactArgs(1),
	}
	revoke.RunE = func(cmd *cobra.Command, args []string) error {
		return withOperator(cmd.Context(), getenv, stderr, clientArg, func(ctx context.Context, svc *provision.Service) error {
			_, already, err := svc.RevokeIntegrationClient(ctx, args[0])
			if err != nil {
				return err
			}
			if already {
				// Idempotent: nothing changed, nothing is audited.
				fmt.Fprintf(stdout, "%s is already revoked\n", args[0])
				return nil
			}
			fmt.Fprintf(stdout, "revoked %s\n", args[0])
			return nil
		})
	}
	cmd.AddCommand(create, list, rotate, revoke)
	for _, c := range cmd.Commands() {
		c.SetFlagErrorFunc(usage)
	}
	return cmd
}

// withOperator opens the database as the server does (migrate, bootstrap) and runs fn as the
// operator.
func withOperator(ctx context.Context, getenv func(string) string, stderr io.Writer, flags map[string]string,
	fn func(context.Context, *provision.Service) error) error {
	c, err := app.LoadConfig(getenv)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: max(c.LogLevel, slog.LevelWarn)}))
	// Generated bootstrap credentials of a fresh database go where the server puts them.
	out := bootstrapOutput(c.BootstrapSecretTo, log)
	a, err := app.New(ctx, c, log, out)
	if err != nil {
		return err
	}
	defer a.Store().Close()
	opCtx, err := a.Service().AsOperator(ctx, operatorName(getenv))
	if err != nil {
		return operatorError(err, nil)
	}
	return operatorError(fn(opCtx, a.Service()), flags)
}

// operatorError shows domain errors as their field messages; the operator sees other causes
// in full (this is their own terminal, not an API answer). A field the command takes as a flag
// or an argument is named as the operator wrote it (flags maps the service's field names, such
// as workspaceId, to "--workspace"), with the value they gave when the message does not say
// what was wrong with it ("--scopes \"root\": unknown scope; …").
func operatorError(err error, flags map[string]string) error {
	if err == nil || models.ErrorCode(err) == models.EINTERNAL {
		return err
	}
	var es models.Errors
	var one *models.Error
	switch {
	case errors.As(err, &es):
	case errors.As(err, &one):
		es = models.Errors{one}
	}
	msg := models.FieldMessage(err)
	if len(es) > 0 {
		parts := make([]string, len(es))
		for i, e := range es {
			named := *e
			if flag, ok := flags[e.Field]; ok {
				named.Field = flag
			}
			parts[i] = models.FieldMessage(&named)
			if _, ok := flags[e.Field]; ok && e.Value != nil && !strings.HasPrefix(parts[i], named.Field+" ") {
				parts[i] = fmt.Sprintf("%s %q: %s", named.Field, *e.Value, parts[i])
			}
		}
		msg = strings.Join(parts, "; ")
	}
	return fmt.Errorf("%s: %s", strings.ToLower(models.ErrorCode(err)), msg)
}

// clientJSON is a client as the clients commands print it.
type clientJSON struct {
	ClientID      string   `json:"clientId"`
	ClientSecret  string   `json:"clientSecret,omitempty"`
	Name          string   `json:"name"`
	Scopes        []string `json:"scopes"`
	WorkspaceID   string   `json:"workspaceId"`
	PlatformAdmin bool     `json:"platformAdmin"`
	Status        string   `json:"status"`
	CreatedAt     string   `json:"createdAt"`
}

func toClientJSON(c *models.IntegrationClient, plain string) clientJSON {
	status := "active"
	if c.Revoked() {
		status = "revoked"
	}
	return clientJSON{ClientID: c.ClientID, ClientSecret: plain, Name: c.Name, Scopes: c.Scopes(),
		WorkspaceID: c.WorkspaceID.String(), PlatformAdmin: c.PlatformAdmin, Status: status,
		CreatedAt: c.CreatedAt.UTC().Format(time.RFC3339)}
}

func printClient(w io.Writer, c *models.IntegrationClient, plain string, asJSON bool) error {
	j := toClientJSON(c, plain)
	if asJSON {
		return writeJSON(w, j)
	}
	_, err := fmt.Fprintf(w, "client_id:     %s\nclient_secret: %s\nname:          %s\nscopes:        %s\nworkspace_id:  %s\n\nThe secret is shown once; store it now.\n",
		j.ClientID, j.ClientSecret, j.Name, strings.Join(j.Scopes, " "), j.WorkspaceID)
	return err
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// exactArgs is cobra.ExactArgs reported as a usage error.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(n)(cmd, args); err != nil {
			return usage(cmd, err)
		}
		return nil
	}
}
