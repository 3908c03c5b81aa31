package apptest

import (
	"context"
	"strings"
	"testing"
)

// AbortOnce makes the server's PostgreSQL abort the first op (INSERT, UPDATE or DELETE) on
// table as a deadlock's victim (SQLSTATE 40P01: what PostgreSQL answers the transaction it
// rolls back when two wait on each other's row locks), through a trigger, and lets every later
// one through. It is the one way to reach that failure deterministically; real deadlocks need
// concurrent writers and luck. fired says how many statements it aborted (0 or 1): a sequence
// counts the rows, as the one thing the aborted transaction's rollback leaves. drop removes the
// trigger. PostgreSQL only.
func (e *Env) AbortOnce(t *testing.T, op, table string) (fired func() int, drop func()) {
	t.Helper()
	name := "abort_once_" + strings.ToLower(op) + "_" + table
	exec := func(stmt string) {
		t.Helper()
		if _, err := e.App.Store().DB().ExecContext(context.Background(), stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	exec("CREATE SEQUENCE " + name)
	exec("CREATE FUNCTION " + name + "() RETURNS trigger AS $$ BEGIN IF nextval('" + name + "') = 1 THEN " +
		"RAISE EXCEPTION 'deadlock injected by the test' USING ERRCODE = 'deadlock_detected'; END IF; " +
		"RETURN COALESCE(NEW, OLD); END $$ LANGUAGE plpgsql")
	exec("CREATE TRIGGER " + name + " BEFORE " + op + " ON " + table + " FOR EACH ROW EXECUTE FUNCTION " + name + "()")
	fired = func() int {
		t.Helper()
		var n int
		if err := e.App.Store().RawScan(context.Background(), &n, "SELECT CASE WHEN is_called THEN 1 ELSE 0 END FROM "+name); err != nil {
			t.Fatal(err)
		}
		return n
	}
	drop = func() {
		exec("DROP TRIGGER " + name + " ON " + table)
		exec("DROP FUNCTION " + name + "()")
		exec("DROP SEQUENCE " + name)
	}
	return fired, drop
}
