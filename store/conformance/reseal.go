package conformance

import (
	"context"
	"errors"
	"strings"
	"time"

	"gatehouse/models"
	"gatehouse/store"
)

// testResealSecrets: every sealed value is passed to the reseal function and written back when
// it changes; a value it fails on is counted and left; a value written anew meanwhile is not
// overwritten (on SQLite the writer waits for, or fails against, the reseal's transaction:
// ErrUnavailable, and the command is run again). The database is shared: the reseal function
// changes only this subtest's values (prefixed) and asserts only about them.
func testResealSecrets(e *env) {
	mark := unique("sealed-")
	conns := map[string]string{} // connection id → its sealed value
	for _, name := range []string{"resealed", "unreadable", "written anew"} {
		c := e.connection(unique(name + "-"))
		v := mark + name
		c.OIDCClientSecretEnc = []byte(v)
		e.ok(e.s.UpdateConnection(e.ctx, c))
		conns[name] = c.ID.String()
	}
	// database/sql's statements, outside the reseal's transaction: another server's write.
	sql := func(q string) string {
		if e.s.Dialect() == store.Postgres {
			return strings.Replace(strings.Replace(q, "?", "$1", 1), "?", "$2", 1)
		}
		return q
	}
	var wrote error
	resealed, failed, err := e.s.ResealSecrets(e.ctx, func(v []byte) ([]byte, bool, error) {
		s := string(v)
		switch {
		case !strings.HasPrefix(s, mark):
			return v, false, nil // another subtest's
		case s == mark+"unreadable":
			return v, false, errors.New("no key opens it")
		case s == mark+"written anew":
			ctx, cancel := context.WithTimeout(e.ctx, 2*time.Second)
			defer cancel()
			_, wrote = e.s.DB().ExecContext(ctx, sql("UPDATE connections SET oidc_client_secret_enc = ? WHERE id = ?"),
				[]byte(mark+"anew"), conns["written anew"])
		}
		return []byte("new-" + s), true, nil
	})
	got := map[string]string{}
	for name, id := range conns {
		var v []byte
		e.ok(e.s.DB().QueryRowContext(e.ctx, sql("SELECT oidc_client_secret_enc FROM connections WHERE id = ?"), id).Scan(&v))
		got[name] = string(v)
	}
	e.t.Logf("the concurrent write: %v; resealed %v, failed %v, %v; values %v", wrote, resealed, failed, err, got)
	if wrote == nil {
		e.check(got["written anew"] == mark+"anew", "the value written meanwhile was overwritten: %v", got)
	}
	if err != nil { // SQLite: the reseal's transaction met the write
		e.is(err, models.ErrUnavailable, "a reseal that met a concurrent write")
		e.check(e.s.Dialect() == store.SQLite, "on PostgreSQL the reseal failed: %v", err)
		return
	}
	e.check(got["resealed"] == "new-"+mark+"resealed" && got["unreadable"] == mark+"unreadable", "values: %v", got)
	e.check(failed["connections.oidc_client_secret_enc"] >= 1, "failed: %v", failed)
}
