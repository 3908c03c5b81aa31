package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"os/user"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"gatehouse/app"
	"gatehouse/store"
)

// version is the release version; builds may set it with -ldflags "-X main.version=v1.2.3".
// Unset, `gatehouse version` reports the module version and VCS commit Go stamped in.
var version = ""

func main() {
	os.Exit(execute(context.Background(), os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}

// usageError is a mistake on the command line (exit status 2, with a pointer to the help of
// the command it was made in).
type usageError struct {
	error
	command string // "gatehouse clients rotate"
}

// usage makes err a mistake in cmd's command line. It is also every command's flag error
// function: cobra calls it with the command whose flags were wrong.
func usage(cmd *cobra.Command, err error) error { return usageError{err, cmd.CommandPath()} }

// noArgs refuses arguments to a command that takes none, as a usage error of that command
// (cobra.NoArgs' "unknown command" error pointed at the top-level help).
func noArgs(cmd *cobra.Command, args []string) error {
	if err := cobra.NoArgs(cmd, args); err != nil {
		return usage(cmd, err)
	}
	return nil
}

// exitError carries an exit status without a message of its own (the command has already
// reported, e.g. bind with failed rows).
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// execute runs the command line and returns the process exit status.
func execute(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	err := runCommand(ctx, args, stdout, stderr, getenv)
	var ee exitError
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "gatehouse: %v\nRun '%s --help' for usage.\n", err, ue.command)
		return 2
	case strings.HasPrefix(err.Error(), "unknown command"): // cobra's, for a command with subcommands
		fmt.Fprintf(stderr, "gatehouse: %v\nRun 'gatehouse --help' for usage.\n", err)
		return 2
	}
	fmt.Fprintln(stderr, "gatehouse:", err)
	return 1
}

// run runs the command line as main does, with the process's environment and output (tests
// that need a whole process, signals included, call it).
func run(args []string) error {
	return runCommand(context.Background(), args, os.Stdout, os.Stderr, os.Getenv)
}

// runCommand runs one command; SIGINT and SIGTERM cancel its context (the server drains). A
// second one stops the process at once, as the signal does by default: an operator who
// pressed Ctrl-C during a long drain (GATEHOUSE_SHUTDOWN_DRAIN), or a `bind` finishing its
// batch, is not made to wait for it.
func runCommand(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // the default behaviour back, for the next signal
	}()
	root := newRootCmd(getenv, stdout, stderr)
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}

// newRootCmd builds the command tree. Commands read the environment through getenv and write
// through stdout/stderr, so tests can run them in process too.
func newRootCmd(getenv func(string) string, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "gatehouse",
		Short: "Identity provisioning gateway: OAuth, GraphQL, REST, SCIM and SSO over one model",
		Long: `Gatehouse is an identity provisioning gateway. Without a command it runs the server
(the same as 'gatehouse serve'), configured by the environment variables below.`,
		Args:          noArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE:          func(cmd *cobra.Command, _ []string) error { return runServe(cmd.Context(), getenv) },
	}
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(usage)
	setEnvHelp(root)

	serveCmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the server (the default command); migrates the database first",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return runServe(cmd.Context(), getenv) },
	}
	setEnvHelp(serveCmd, "server", "runtime")

	migrateCmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply the database migrations and exit (the server also migrates at start)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := app.LoadConfig(getenv)
			if err != nil {
				return err
			}
			st, err := store.Open(cmd.Context(), c.DatabaseURL, store.Options{Wait: c.DatabaseWait})
			if err != nil {
				return err
			}
			defer st.Close()
			if err := st.Migrate(cmd.Context()); err != nil {
				return err
			}
			v, err := st.SchemaVersion(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "migrated %s to schema version %d\n", store.Describe(c.DatabaseURL), v)
			return nil
		},
	}
	setEnvHelp(migrateCmd, "server")

	versionCmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version (release, module version or VCS commit) and the Go version",
		Args:  noArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(stdout, "gatehouse", versionString())
		},
	}

	root.AddCommand(serveCmd, migrateCmd, versionCmd, newClientsCmd(getenv, stdout, stderr),
		newBindCmd(getenv, stdout, stderr), newHealthcheckCmd(getenv, stdout), newReencryptCmd(getenv, stdout, stderr))
	for _, c := range root.Commands() {
		c.SetFlagErrorFunc(usage)
	}
	return root
}

// runServe loads the configuration and runs the server until a signal stops it.
func runServe(ctx context.Context, getenv func(string) string) error {
	c, err := app.LoadConfig(getenv)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: c.LogLevel}))
	return runServer(ctx, c, log)
}

// setEnvHelp appends the environment variables of the given groups (all when none) to cmd's
// help, from the one settings table.
func setEnvHelp(cmd *cobra.Command, groups ...string) {
	title := "Environment variables (name, default, meaning):"
	cmd.SetUsageTemplate(cmd.UsageTemplate() + "\n" + title + "\n" + app.EnvHelp(groups...))
}

// versionString is the release version when set at build time, else the module version, plus
// the VCS commit and the Go version.
func versionString() string {
	v := version
	info, ok := debug.ReadBuildInfo()
	if v == "" && ok {
		v = info.Main.Version
	}
	if v == "" {
		v = "(devel)"
	}
	if ok {
		var rev, when, dirty string
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				when = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					dirty = ", modified"
				}
			}
		}
		if rev != "" {
			v += fmt.Sprintf(" (commit %.12s%s, %s)", rev, dirty, when)
		}
	}
	return v + " " + runtime.Version()
}

// operatorName is the actor the audit log records for command-line changes: the person behind
// sudo, else the login named by the environment, else the process's user from the system's
// user database (containers and cron set no USER), else its numeric id (cli:uid:1000).
func operatorName(getenv func(string) string) string {
	for _, k := range []string{"SUDO_USER", "USER", "LOGNAME"} {
		if u := getenv(k); u != "" {
			return "cli:" + u
		}
	}
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "cli:" + u.Username
	}
	return "cli:uid:" + strconv.Itoa(os.Getuid())
}
