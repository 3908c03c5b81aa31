package models

import (
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// BindOutcome is what the identity rule decides for binding an account to an identity.
type BindOutcome uint8

const (
	BindNew     BindOutcome = iota // the account's first identity at the connection
	BindReplace                    // replaces the account's identity at the connection (or rebinds the same one)
	BindTaken                      // the identity is bound to another account: refused (TAKEN)
)

// The identity rule: an identity (connection, identifier compared case-insensitively) binds to
// at most one account of a workspace, and an account has at most one identity per connection,
// which a new binding replaces. Every binding decides by this table, over the state it reads:
// owner, the account the identity is bound to now (none: uuid.Nil in Go, NULL in SQL);
// account, the account being bound; bound, whether that account has an identity at the
// connection already. The first rule that holds decides; none holding is BindNew.
//
// Go evaluates it in DecideBind: bulk binding decides every item of a batch with it, against
// the state the earlier items leave, and a single binding on SQLite after reading the owner.
// SQL evaluates the same table through BindDecisionSQL inside each single binding's upsert on
// PostgreSQL (ahead of time, SCIM, first sign-in's link by email), so that deciding costs no
// round trip of its own; the store asks it only whether the outcome is BindTaken (bound
// false), since whether a write inserts or replaces is what the upsert's conflict target
// finds. TestBindDecisionSQL (store) holds the two forms to each other on both databases, and
// TestBindPathsAgree (provision) the two paths; the unique indexes on credentials remain the
// guard against concurrent binds that both decided on the same state.
var bindRules = []struct {
	outcome BindOutcome
	holds   func(owner, account uuid.UUID, bound bool) bool
	sql     string // the same condition over the SQL expressions named owner, account, bound
}{
	{BindTaken, func(owner, account uuid.UUID, _ bool) bool { return owner != uuid.Nil && owner != account },
		"owner IS NOT NULL AND owner <> account"},
	{BindReplace, func(_, _ uuid.UUID, bound bool) bool { return bound }, "bound"},
}

// DecideBind is the identity rule (bindRules) in Go.
func DecideBind(owner, account uuid.UUID, bound bool) BindOutcome {
	for _, r := range bindRules {
		if r.holds(owner, account, bound) {
			return r.outcome
		}
	}
	return BindNew
}

// BindDecisionSQL is the identity rule (bindRules) as a SQL expression whose value is the
// BindOutcome's number, over the SQL expressions owner (an account id or NULL), account and
// bound (a boolean).
func BindDecisionSQL(owner, account, bound string) string {
	r := strings.NewReplacer("owner", owner, "account", account, "bound", bound)
	var b strings.Builder
	b.WriteString("CASE")
	for _, rule := range bindRules {
		b.WriteString(" WHEN " + r.Replace(rule.sql) + " THEN " + strconv.Itoa(int(rule.outcome)))
	}
	b.WriteString(" ELSE " + strconv.Itoa(int(BindNew)) + " END")
	return b.String()
}
