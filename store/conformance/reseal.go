package conformance

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gatehouse/models"
	"gatehouse/store"
)

// testResealSecrets: every sealed value is passed to the reseal function and written back when
// it changes; a value it fails on is counted and left; a value written anew meanwhile is not
// overwritten (on SQLite the writer waits for, or fails against, the reseal's transaction:
// ErrUnavailable, and the command is run again), and one put back with a previous key
// meanwhile is resealed all the same. A writer that read a connection before the reseal and
// saves every column loses its race instead of putting the old value back. More rows than one
// batch are all resealed. The database is shared: the reseal function changes only this
// subtest's values (prefixed) and asserts only about them.
func testResealSecrets(e *env) {
	mark := unique("sealed-")
	conns := map[string]string{} // connection id → its sealed value
	names := []string{"resealed", "unreadable", "written anew", "put back old"}
	for i := range store.ResealBatch + 1 {
		names = append(names, fmt.Sprintf("batch %d", i))
	}
	var staleCopy *models.Connection // read before the reseal, saved after it
	for _, name := range names {
		c := e.connection(unique(name + "-"))
		v := mark + name
		c.OIDCClientSecretEnc = []byte(v)
		e.ok(e.s.UpdateConnection(e.ctx, c))
		conns[name] = c.ID.String()
		if name == "resealed" {
			staleCopy = c
		}
	}
	// The database is shared, so only the yes is this subtest's to assert.
	has, err := e.s.HasSealedValues(e.ctx)
	e.ok(err)
	e.check(has, "HasSealedValues: false with sealed values written")
	// database/sql's statements, outside the reseal's transaction: another server's write.
	sql := func(q string) string {
		if e.s.Dialect() == store.Postgres {
			return strings.Replace(strings.Replace(q, "?", "$1", 1), "?", "$2", 1)
		}
		return q
	}
	write := func(name, v string) error {
		ctx, cancel := context.WithTimeout(e.ctx, 2*time.Second)
		defer cancel()
		_, err := e.s.DB().ExecContext(ctx, sql("UPDATE connections SET oidc_client_secret_enc = ? WHERE id = ?"), []byte(v), conns[name])
		return err
	}
	var wrote, putBack error
	var once, onceBack bool
	resealed, failed, err := e.s.ResealSecrets(e.ctx, func(v []byte) ([]byte, bool, error) {
		s := string(v)
		switch {
		case !strings.HasPrefix(s, mark) || s == mark+"anew":
			return v, false, nil // another subtest's, or sealed with the current key
		case s == mark+"unreadable":
			return v, false, errors.New("no key opens it")
		case s == mark+"written anew" && !once:
			once = true
			wrote = write("written anew", mark+"anew")
		case s == mark+"put back old" && !onceBack:
			// A writer that had read the value before puts it back (sealed with the old key).
			onceBack = true
			putBack = write("put back old", mark+"put back old again")
		}
		return []byte("new-" + s), true, nil
	})
	got := map[string]string{}
	for name, id := range conns {
		var v []byte
		e.ok(e.s.DB().QueryRowContext(e.ctx, sql("SELECT oidc_client_secret_enc FROM connections WHERE id = ?"), id).Scan(&v))
		got[name] = string(v)
	}
	e.t.Logf("the concurrent writes: %v, %v; resealed %v, failed %v, %v; values %q %q %q %q", wrote, putBack, resealed, failed, err,
		got["resealed"], got["unreadable"], got["written anew"], got["put back old"])
	if wrote == nil {
		e.check(got["written anew"] == mark+"anew", "the value written meanwhile was overwritten: %q", got["written anew"])
	}
	if err != nil { // SQLite: the reseal's transaction met the write
		e.is(err, models.ErrUnavailable, "a reseal that met a concurrent write")
		e.check(e.s.Dialect() == store.SQLite, "on PostgreSQL the reseal failed: %v", err)
		return
	}
	if putBack == nil {
		e.check(got["put back old"] == "new-"+mark+"put back old again", "a value put back with the old key meanwhile was left: %q", got["put back old"])
	}
	e.check(got["resealed"] == "new-"+mark+"resealed" && got["unreadable"] == mark+"unreadable", "values: %q %q", got["resealed"], got["unreadable"])
	for i := range store.ResealBatch + 1 {
		name := fmt.Sprintf("batch %d", i)
		e.check(got[name] == "new-"+mark+name, "%s was not resealed: %q", name, got[name])
	}
	e.check(failed["connections.oidc_client_secret_enc"] >= 1, "failed: %v", failed)

	// The writer that read the connection before the reseal: its save would put the old
	// value back, for good once the old key is retired.
	staleCopy.Name = unique("renamed-")
	e.is(e.s.UpdateConnection(e.ctx, staleCopy), store.ErrStale, "a save of a connection read before the reseal")
	var v []byte
	e.ok(e.s.DB().QueryRowContext(e.ctx, sql("SELECT oidc_client_secret_enc FROM connections WHERE id = ?"), conns["resealed"]).Scan(&v))
	e.check(string(v) == "new-"+mark+"resealed", "the resealed value after a stale save: %q", v)
}
