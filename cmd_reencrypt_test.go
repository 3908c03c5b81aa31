package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"gatehouse/app/apptest"
	"gatehouse/secret"
	"gatehouse/store"
	"gatehouse/store/storetest"
)

// An encryption key rotation, as docs/administration.md tells it: servers on the new key with
// the old one as previous, `gatehouse reencrypt`, then servers on the new key alone, which
// read every secret the old key encrypted: the same token signing keys, the same SAML SP
// certificate, the IdP client secret.
func TestReencryptRotatesTheEncryptionKey(t *testing.T) {
	bin := gatehouseBinary(t) // skipped with -short
	storetest.Each(t, func(t *testing.T, dbURL string) {
		oldKey, newKey := secret.NewKey(), secret.NewKey()
		p, addr := startWithClientSecret(t, bin, dbURL, oldKey)
		jwks, metadata := getBody(t, p.url+"/.well-known/jwks.json"), getBody(t, p.url+"/saml/metadata")
		_ = p.cmd.Process.Kill()
		p.wait()

		env := func(keys ...string) []string {
			env := []string{"GATEHOUSE_DATABASE_URL=" + dbURL, "GATEHOUSE_ENCRYPTION_KEY=" + keys[0],
				"GATEHOUSE_BOOTSTRAP_CLIENT_ID=" + testAdminID, "GATEHOUSE_BOOTSTRAP_CLIENT_SECRET=" + testAdminSecret}
			if len(keys) > 1 {
				env = append(env, "GATEHOUSE_PREVIOUS_ENCRYPTION_KEYS="+strings.Join(keys[1:], ", "))
			}
			return env
		}
		// The new key alone reads nothing of the old one's, and says where to look.
		if r := gatehouseCLI(t, env(newKey), "reencrypt"); r.code != 1 || !strings.Contains(r.stderr, "wrong GATEHOUSE_ENCRYPTION_KEY") {
			t.Fatalf("reencrypt without the previous key: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		newOnly, _ := secret.NewBox(newKey)
		r := gatehouseCLI(t, env(newKey, secret.NewKey(), oldKey), "reencrypt")
		if r.code != 0 || !strings.Contains(r.stdout, "in signing_keys.private_key_enc") || !strings.Contains(r.stdout, "re-encrypted 1 in connections.oidc_client_secret_enc") ||
			!strings.Contains(r.stdout, "in saml_sp_keys.private_key_enc") || !strings.Contains(r.stdout, "GATEHOUSE_PREVIOUS_ENCRYPTION_KEYS can be removed") ||
			!strings.Contains(r.stdout, "(key id "+newOnly.KeyID()+",") {
			t.Fatalf("reencrypt: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		if r := gatehouseCLI(t, env(newKey, oldKey), "reencrypt"); r.code != 0 || strings.Contains(r.stdout, "re-encrypted") {
			t.Fatalf("reencrypt again: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		// A value no configured key opens is left as it is, and the command says so and fails.
		st, err := store.Open(context.Background(), dbURL)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		stranger, _ := secret.NewBox(secret.NewKey())
		var clientSecret []byte
		if err := st.DB().QueryRow("SELECT oidc_client_secret_enc FROM connections").Scan(&clientSecret); err != nil {
			t.Fatal(err)
		}
		// (The raw statement is the test's: the store has no writer for a foreign value.)
		update := "UPDATE connections SET oidc_client_secret_enc = $1"
		if strings.HasPrefix(dbURL, "sqlite:") {
			update = "UPDATE connections SET oidc_client_secret_enc = ?"
		}
		if _, err := st.DB().Exec(update, stranger.Seal([]byte("x"))); err != nil {
			t.Fatal(err)
		}
		if r := gatehouseCLI(t, env(newKey, oldKey), "reencrypt"); r.code != 1 ||
			!strings.Contains(r.stderr, "1 in connections.oidc_client_secret_enc: no configured key decrypts them") {
			t.Fatalf("reencrypt with a value no key opens: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		if _, err := st.DB().Exec(update, clientSecret); err != nil {
			t.Fatal(err)
		}

		// The new key alone: the same keys, the same secret; the rotation is in the audit log;
		// the start-up log names the key by the id reencrypt showed.
		logs := &apptest.Logs{}
		p = startServer(t, bin, serverEnv(addr, dbURL, "GATEHOUSE_ENCRYPTION_KEY="+newKey, "GATEHOUSE_LOG_LEVEL=info"), addr, logs)
		if !strings.Contains(logs.String(), `"msg":"encryption key","key_id":"`+newOnly.KeyID()+`","previous_key_ids":[]`) {
			t.Errorf("the start-up log does not name key %s:\n%s", newOnly.KeyID(), logs.String())
		}
		e := &testEnv{&apptest.Env{T: t, URL: p.url}}
		e.AdminToken()
		if got := getBody(t, p.url+"/.well-known/jwks.json"); got != jwks {
			t.Errorf("the token signing keys changed:\n%s\n%s", jwks, got)
		}
		if got := getBody(t, p.url+"/saml/metadata"); got != metadata {
			t.Error("the SAML SP metadata changed")
		}
		if plain, err := newOnly.Open(clientSecret); err != nil || string(plain) != "the-idp-client-secret" {
			t.Errorf("the IdP client secret with the new key alone: %q %v", plain, err)
		}
		var n int
		if err := st.RawScan(context.Background(), &n, "SELECT count(*) FROM audit_events WHERE action = 'encryption_key.reencrypted' AND actor_type = 'operator'"); err != nil || n != 3 {
			t.Errorf("%d audit events of reencrypt (want 3: the two that ran through, and the one that found a value it could not read) %v", n, err)
		}
	})
}

// startWithClientSecret starts a server on dbURL with the encryption key key, and creates
// through it an OIDC connection, whose client secret ("the-idp-client-secret") it seals.
func startWithClientSecret(t *testing.T, bin, dbURL, key string) (p *process, addr string) {
	t.Helper()
	addr = fmt.Sprintf("127.0.0.1:%d", storetest.FreePort(t))
	p = startServer(t, bin, serverEnv(addr, dbURL, "GATEHOUSE_ENCRYPTION_KEY="+key), addr)
	e := &testEnv{&apptest.Env{T: t, URL: p.url}}
	e.REST(e.AdminToken(), "POST", "/api/v1/sso/connections", `{"name": "Okta OIDC", "protocol": "oidc",
		"oidcConfig": {"issuerUrl": "https://your-org.okta.com", "clientId": "0oa1", "clientSecret": "the-idp-client-secret"}}`).Must(t, 201)
	return p, addr
}

// A reencrypt the database stops midway (here a trigger refuses every update of connections,
// the third sealed column) fails, and keeps what it moved: the columns before commit with the
// new key, the command says which, and the audit log records the run as failed with those
// counts. Run again once the database takes the writes, it moves only what is left, and the
// new key alone then opens the IdP client secret.
func TestReencryptStoppedMidwayResumes(t *testing.T) {
	bin := gatehouseBinary(t) // skipped with -short
	storetest.Each(t, func(t *testing.T, dbURL string) {
		oldKey, newKey := secret.NewKey(), secret.NewKey()
		p, _ := startWithClientSecret(t, bin, dbURL, oldKey)
		_ = p.cmd.Process.Kill()
		p.wait()

		st, err := store.Open(context.Background(), dbURL)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		refuse := []string{`CREATE FUNCTION refuse_update() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$ LANGUAGE plpgsql`,
			`CREATE TRIGGER refuse_update BEFORE UPDATE ON connections FOR EACH ROW EXECUTE FUNCTION refuse_update()`}
		allow := []string{`DROP TRIGGER refuse_update ON connections`, `DROP FUNCTION refuse_update()`}
		if strings.HasPrefix(dbURL, "sqlite:") {
			refuse = []string{`CREATE TRIGGER refuse_update BEFORE UPDATE ON connections BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`}
			allow = []string{`DROP TRIGGER refuse_update`}
		}
		exec := func(stmts []string) {
			for _, q := range stmts {
				if _, err := st.DB().Exec(q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
		}
		env := []string{"GATEHOUSE_DATABASE_URL=" + dbURL, "GATEHOUSE_ENCRYPTION_KEY=" + newKey, "GATEHOUSE_PREVIOUS_ENCRYPTION_KEYS=" + oldKey,
			"GATEHOUSE_BOOTSTRAP_CLIENT_ID=" + testAdminID, "GATEHOUSE_BOOTSTRAP_CLIENT_SECRET=" + testAdminSecret}

		exec(refuse)
		r := gatehouseCLI(t, env, "reencrypt")
		if r.code != 1 || !strings.Contains(r.stdout, "re-encrypted 1 in signing_keys.private_key_enc") || strings.Contains(r.stdout, "connections") ||
			strings.Contains(r.stdout, "can be removed") || !strings.Contains(r.stderr, "refused by the test") || !strings.Contains(r.stderr, "run reencrypt again") {
			t.Fatalf("reencrypt stopped midway: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		var summary string
		if err := st.RawScan(context.Background(), &summary, "SELECT summary FROM audit_events WHERE action = 'encryption_key.reencrypted' AND actor_type = 'operator'"); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(summary, `"failed":true`) || !strings.Contains(summary, `"signing_keys.private_key_enc":`) || strings.Contains(summary, `"connections.oidc_client_secret_enc":1`) {
			t.Fatalf("the failed run's audit event: %s", summary)
		}
		var clientSecret []byte
		if err := st.DB().QueryRow("SELECT oidc_client_secret_enc FROM connections").Scan(&clientSecret); err != nil {
			t.Fatal(err)
		}
		newOnly, _ := secret.NewBox(newKey)
		if _, err := newOnly.Open(clientSecret); err == nil {
			t.Fatal("the refused update of connections moved the client secret")
		}

		exec(allow)
		if r := gatehouseCLI(t, env, "reencrypt"); r.code != 0 || strings.Contains(r.stdout, "signing_keys") ||
			!strings.Contains(r.stdout, "re-encrypted 1 in connections.oidc_client_secret_enc") || !strings.Contains(r.stdout, "can be removed") {
			t.Fatalf("reencrypt again: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		if err := st.DB().QueryRow("SELECT oidc_client_secret_enc FROM connections").Scan(&clientSecret); err != nil {
			t.Fatal(err)
		}
		if plain, err := newOnly.Open(clientSecret); err != nil || string(plain) != "the-idp-client-secret" {
			t.Fatalf("the IdP client secret with the new key alone: %q %v", plain, err)
		}
		var n int
		if err := st.RawScan(context.Background(), &n, "SELECT count(*) FROM audit_events WHERE action = 'encryption_key.reencrypted' AND actor_type = 'operator'"); err != nil || n != 2 {
			t.Errorf("%d audit events of reencrypt, want 2 (the failed run and the one that finished) %v", n, err)
		}
	})
}

// reencrypt on a database Gatehouse has not made (a relative sqlite: path read from another
// directory, a mistyped URL) fails and makes nothing: it made one, found nothing to move in it,
// and said GATEHOUSE_PREVIOUS_ENCRYPTION_KEYS could be removed.
func TestReencryptRefusesADatabaseGatehouseHasNotMade(t *testing.T) {
	gatehouseBinary(t) // skipped with -short
	storetest.Each(t, func(t *testing.T, dbURL string) {
		r := gatehouseCLI(t, []string{"GATEHOUSE_DATABASE_URL=" + dbURL, "GATEHOUSE_ENCRYPTION_KEY=" + secret.NewKey(),
			"GATEHOUSE_PREVIOUS_ENCRYPTION_KEYS=" + secret.NewKey()}, "reencrypt")
		if r.code != 1 || !strings.Contains(r.stderr, "no Gatehouse database") || strings.Contains(r.stdout, "can be removed") {
			t.Fatalf("reencrypt on a database Gatehouse has not made: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		if path, ok := strings.CutPrefix(dbURL, "sqlite:"); ok {
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("reencrypt made the SQLite database %s: %v", path, err)
			}
			return
		}
		st, err := store.Open(context.Background(), dbURL)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if v, err := st.SchemaVersion(context.Background()); err == nil && v > 0 {
			t.Fatalf("reencrypt migrated the database to version %d", v)
		}
	})
}

func getBody(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return string(b)
}
