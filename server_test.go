package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"gatehouse/app"
	"gatehouse/store"
	"gatehouse/store/storetest"
)

func TestConfigDefaultsAndValidation(t *testing.T) {
	env := map[string]string{}
	c, err := app.LoadConfig(func(k string) string { return env[k] })
	if err != nil || c.Addr != ":8080" || c.DatabaseURL != "sqlite:gatehouse.db" || c.PublicURL != "http://localhost:8080" || c.AllowPrivateNetworks {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	for _, bad := range []map[string]string{
		{"GATEHOUSE_ALLOW_PRIVATE_NETWORKS": "maybe"},
		{"GATEHOUSE_BOOTSTRAP_CLIENT_ID": "only-id"},
		{"GATEHOUSE_LOG_LEVEL": "loud"},
	} {
		if _, err := app.LoadConfig(func(k string) string { return bad[k] }); err == nil {
			t.Errorf("accepted %v", bad)
		}
	}
	if _, err := app.New(context.Background(), app.Config{DatabaseURL: "postgres://x/y"}, slog.New(slog.DiscardHandler), io.Discard); err == nil || !strings.Contains(err.Error(), "GATEHOUSE_ENCRYPTION_KEY") {
		t.Fatalf("postgres without a key: %v", err)
	}
	if _, err := app.New(context.Background(), app.Config{EncryptionKey: "c2hvcnQ="}, slog.New(slog.DiscardHandler), io.Discard); err == nil {
		t.Fatal("short key accepted")
	}
}

// First start creates the admin client and prints its generated credentials with a curl
// command; later starts create nothing and print nothing. The SQLite key file is reused.
func TestBootstrapPrintsGeneratedCredentialsOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		cfg := app.Config{DatabaseURL: dbURL, PublicURL: "http://localhost:8080"}
		if strings.HasPrefix(dbURL, "postgres") {
			cfg.EncryptionKey = "Zm9yLXRlc3RzLW9ubHktMzItYnl0ZXMtb2Yta2V5ISE="
		}
		log := slog.New(slog.DiscardHandler)
		var out bytes.Buffer
		a, err := app.New(context.Background(), cfg, log, &out)
		if err != nil {
			t.Fatal(err)
		}
		a.Store().Close()
		m := regexp.MustCompile(`curl -s -u '(ghc_[^:]+):(ghs_[^']+)' -d grant_type=client_credentials http://localhost:8080/oauth/token`).FindStringSubmatch(out.String())
		if m == nil {
			t.Fatalf("no curl command in:\n%s", out.String())
		}
		out.Reset()
		a, err = app.New(context.Background(), cfg, log, &out)
		if err != nil {
			t.Fatalf("second start: %v", err)
		}
		defer a.Store().Close()
		if out.Len() != 0 {
			t.Fatalf("second start printed: %s", out.String())
		}
		if _, err := a.Service().AuthenticateClient(context.Background(), m[1], m[2]); err != nil {
			t.Fatalf("printed credentials do not authenticate: %v", err)
		}
	})
}

// A chosen platform admin secret must be as strong as a generated one: a short one (or an id
// or secret longer than the token endpoint reads) stops the first start, saying which
// variables, and creates nothing; a database bootstrapped already starts whatever they hold.
func TestBootstrapRefusesAWeakChosenSecret(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		cfg := app.Config{DatabaseURL: dbURL, PublicURL: "http://localhost:8080", BootstrapClientID: "admin"}
		if strings.HasPrefix(dbURL, "postgres") {
			cfg.EncryptionKey = "Zm9yLXRlc3RzLW9ubHktMzItYnl0ZXMtb2Yta2V5ISE="
		}
		log := slog.New(slog.DiscardHandler)
		for _, bad := range []struct{ id, secret string }{
			{"admin", "hunter2"},
			{"admin", strings.Repeat("s", 31)},
			{"admin", strings.Repeat("s", 257)},
			{strings.Repeat("i", 257), strings.Repeat("s", 32)},
			// An application's form: /oauth/revoke would take the client for an application
			// and refuse it invalid_client; an id with a control character never authenticates.
			{"gha_admin", strings.Repeat("s", 32)},
			{"admin\x01", strings.Repeat("s", 32)},
		} {
			cfg.BootstrapClientID, cfg.BootstrapClientSecret = bad.id, bad.secret
			if _, err := app.New(context.Background(), cfg, log, io.Discard); err == nil ||
				!strings.Contains(err.Error(), "GATEHOUSE_BOOTSTRAP_CLIENT_SECRET") || strings.Contains(err.Error(), bad.secret) {
				t.Fatalf("id %.8q, secret of %d characters: %v", bad.id, len(bad.secret), err)
			}
		}
		cfg.BootstrapClientID, cfg.BootstrapClientSecret = "admin", strings.Repeat("s", 32)
		a, err := app.New(context.Background(), cfg, log, io.Discard)
		if err != nil {
			t.Fatalf("32 characters: %v", err)
		}
		if _, err := a.Service().AuthenticateClient(context.Background(), "admin", cfg.BootstrapClientSecret); err != nil {
			t.Fatalf("the chosen credentials do not authenticate: %v", err)
		}
		a.Store().Close()
		cfg.BootstrapClientSecret = "hunter2" // bootstrapped already: nothing is created, the server starts
		if a, err = app.New(context.Background(), cfg, log, io.Discard); err != nil {
			t.Fatalf("restart: %v", err)
		}
		a.Store().Close()
	})
}

func TestMigrateCommandIsRepeatable(t *testing.T) {
	dbURL := "sqlite:" + filepath.Join(t.TempDir(), "m.db")
	t.Setenv("GATEHOUSE_DATABASE_URL", dbURL)
	t.Setenv("GATEHOUSE_LOG_LEVEL", "error")
	for i := 0; i < 2; i++ {
		if code := execute(context.Background(), []string{"migrate"}, io.Discard, io.Discard, os.Getenv); code != 0 {
			t.Fatalf("migrate #%d: exit status %d", i+1, code)
		}
	}
	st, err := store.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if v, _ := st.SchemaVersion(context.Background()); v < 2 {
		t.Fatalf("schema version %d", v)
	}
	if code := execute(context.Background(), []string{"bogus"}, io.Discard, io.Discard, os.Getenv); code != 2 {
		t.Fatalf("unknown command: exit status %d, want 2", code)
	}
}

// The binary builds without cgo: the SQLite driver is pure Go (gatehouseBinary builds with
// CGO_ENABLED=0).
func TestBuildsWithoutCgo(t *testing.T) {
	gatehouseBinary(t)
}

// Replicas starting at once on an empty PostgreSQL database (a first deployment, or one
// migrated by `gatehouse migrate` and never served) all start: the migrations run once, one
// default workspace and one platform admin client are made, with the chosen credentials or
// generated ones, and no start fails on the table or the client another one created meanwhile.
// (Replicas share PostgreSQL; a SQLite file is one server's.)
func TestReplicasStartingTogetherBootstrapOnce(t *testing.T) {
	for _, fresh := range []bool{true, false} {
		for _, chosen := range []bool{true, false} {
			t.Run(fmt.Sprintf("empty=%v/chosen=%v", fresh, chosen), func(t *testing.T) {
				url := storetest.URL(t, "postgres")
				if !fresh { // migrated, never served
					st, err := store.Open(context.Background(), url)
					if err != nil {
						t.Fatal(err)
					}
					err = st.Migrate(context.Background())
					st.Close()
					if err != nil {
						t.Fatal(err)
					}
				}
				cfg := app.Config{DatabaseURL: url, PublicURL: "http://localhost:8080",
					EncryptionKey: "Zm9yLXRlc3RzLW9ubHktMzItYnl0ZXMtb2Yta2V5ISE="}
				if chosen {
					cfg.BootstrapClientID, cfg.BootstrapClientSecret = "admin", strings.Repeat("s", 32)
				}
				const replicas = 4
				errs := make(chan error, replicas)
				var start sync.WaitGroup
				start.Add(1)
				for i := 0; i < replicas; i++ {
					go func() {
						start.Wait()
						a, err := app.New(context.Background(), cfg, slog.New(slog.DiscardHandler), io.Discard)
						if err == nil {
							a.Store().Close()
						}
						errs <- err
					}()
				}
				start.Done()
				for i := 0; i < replicas; i++ {
					if err := <-errs; err != nil {
						t.Errorf("a replica did not start: %v", err)
					}
				}
				st, err := store.Open(context.Background(), url)
				if err != nil {
					t.Fatal(err)
				}
				defer st.Close()
				var clients, workspaces int64
				if err := st.RawScan(context.Background(), &clients, "SELECT count(*) FROM integration_clients"); err != nil {
					t.Fatal(err)
				}
				if err := st.RawScan(context.Background(), &workspaces, "SELECT count(*) FROM workspaces"); err != nil {
					t.Fatal(err)
				}
				if clients != 1 || workspaces != 1 {
					t.Fatalf("%d clients and %d workspaces after %d replicas started, want one of each", clients, workspaces, replicas)
				}
			})
		}
	}
}
