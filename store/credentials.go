package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"gatehouse/models"
)

// credentialsWithSlug selects a workspace's credentials at live connections, with the
// connection's slug as AuthModule. The slug comes from correlated primary-key lookups rather
// than a join, so that the planner drives from the credentials index the caller's filter
// names (a join would make the identity index look as good, and SQLite, without statistics,
// then walks every credential of the connection).
func (s *Store) credentialsWithSlug(ctx context.Context, ws uuid.UUID) *gorm.DB {
	return s.db(ctx).Table("credentials").
		Select(`credentials.*, (SELECT k.slug FROM connections k WHERE k.id = credentials.connection_id) AS auth_module`).
		Where("credentials.workspace_id = ?", ws).
		Where("EXISTS (SELECT 1 FROM connections k WHERE k.id = credentials.connection_id AND k.deleted_at IS NULL)")
}

// CredentialsForAccounts loads the live credentials of the given accounts, grouped by account,
// in one query.
// Errors: none of the contract; no match is an empty result.
func (s *Store) CredentialsForAccounts(ctx context.Context, ws uuid.UUID, ids []uuid.UUID) (map[uuid.UUID][]*models.Credential, error) {
	out := make(map[uuid.UUID][]*models.Credential, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	var cs []*models.Credential
	err := s.credentialsWithSlug(ctx, ws).Where("credentials.user_account_id IN ?", ids).
		Order("credentials.id").Find(&cs).Error
	if err != nil {
		return nil, translate(err)
	}
	for _, c := range cs {
		out[c.UserAccountID] = append(out[c.UserAccountID], c)
	}
	return out, nil
}

// CredentialByIdentity finds the credential bound to (connection, identifier key).
// Errors: ErrNotFound when no row matches.
func (s *Store) CredentialByIdentity(ctx context.Context, ws, connectionID uuid.UUID, identifierKey string) (*models.Credential, error) {
	var c models.Credential
	err := first(s.credentialsWithSlug(ctx, ws).
		Where("credentials.connection_id = ? AND credentials.identifier_key = ?", connectionID, identifierKey), &c)
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// CredentialsByIdentities finds, at one connection, the credentials bound to any of the keys.
// Errors: none of the contract; no match is an empty result.
func (s *Store) CredentialsByIdentities(ctx context.Context, ws, connectionID uuid.UUID, keys []string) ([]*models.Credential, error) {
	var cs []*models.Credential
	err := s.scoped(ctx, ws).Where("connection_id = ? AND identifier_key IN ?", connectionID, keys).Find(&cs).Error
	return cs, translate(err)
}

// DeleteCredential removes the binding of an account at a connection; it reports whether one
// existed.
// Errors: none of the contract; a missing binding reports false.
func (s *Store) DeleteCredential(ctx context.Context, ws, accountID, connectionID uuid.UUID) (bool, error) {
	res := s.scoped(ctx, ws).Where("user_account_id = ? AND connection_id = ?", accountID, connectionID).
		Delete(&models.Credential{})
	return res.RowsAffected > 0, translate(res.Error)
}

// LockBulkBinding makes the caller's transaction, until it ends, a bulk binding of workspace
// ws: shared, alongside any other shared one; exclusive, the only one, once the bulk bindings
// running have ended, and before any that asks after it. A bulk binding decides from reads
// that a concurrent one can overtake, and is run again when it loses (provision: its last
// run is exclusive, so that it cannot lose to another bulk binding again). PostgreSQL: a
// transaction advisory lock (the two-key form, 7215342 and the workspace's hash; the store's
// one-key locks are 7215339 migrations, 7215340 client changes, 7215341 bootstrap);
// SQLite runs one write transaction at a time. Outside a transaction it locks nothing lasting.
// Errors: none of the contract.
func (s *Store) LockBulkBinding(ctx context.Context, ws uuid.UUID, exclusive bool) error {
	if s.dialect != Postgres {
		return nil
	}
	fn := "pg_advisory_xact_lock_shared"
	if exclusive {
		fn = "pg_advisory_xact_lock"
	}
	return translate(s.db(ctx).Exec("SELECT "+fn+"(7215342, hashtext(?))", ws.String()).Error)
}

// DeleteCredentials removes credentials by id, in one statement. Deleting by primary key keeps
// the plan independent of planner statistics, which a fresh database does not have.
// Errors: none of the contract; missing ids are ignored.
func (s *Store) DeleteCredentials(ctx context.Context, ws uuid.UUID, ids []uuid.UUID) error {
	if len(ids) == 0 {
		return nil
	}
	return translate(s.scoped(ctx, ws).Where("id IN ?", ids).Delete(&models.Credential{}).Error)
}

// upsertCredentialSQL makes a credential the account's binding at its connection in one
// statement: inserted, or replacing the identifier and secret of the existing one. The unique
// index on the identity (ux_credentials_identity) refuses an identifier bound to another
// account; a rebind of the account's own identifier succeeds.
var upsertCredentialSQL = credentialTable.insert() + " " + upsertCredentialConflict

var (
	credentialTable = newTable("credentials",
		col("id", func(c *models.Credential) *uuid.UUID { return &c.ID }),
		col("workspace_id", func(c *models.Credential) *uuid.UUID { return &c.WorkspaceID }),
		col("user_account_id", func(c *models.Credential) *uuid.UUID { return &c.UserAccountID }),
		col("connection_id", func(c *models.Credential) *uuid.UUID { return &c.ConnectionID }),
		col("identifier", func(c *models.Credential) *string { return &c.Identifier }, rebind),
		col("identifier_key", func(c *models.Credential) *string { return &c.IdentifierKey }, rebind),
		col("secret_hash", func(c *models.Credential) *string { return &c.SecretHash }, rebind),
		col("created_at", func(c *models.Credential) *time.Time { return &c.CreatedAt }),
		col("updated_at", func(c *models.Credential) *time.Time { return &c.UpdatedAt }, rebind),
	)
	upsertCredentialConflict = "ON CONFLICT (workspace_id, user_account_id, connection_id) DO UPDATE SET " +
		credentialTable.excluded(rebind)
)

func credentialArgs(c *models.Credential) []any { return credentialTable.args(c) }

// CreateCredential inserts c, its account's first binding at its connection. It never
// replaces a binding: linking an account by email must not, or two identities linking the
// account at once would both sign in, the last one taking the binding over
// (TestSignInConcurrentLinkByEmail). The unique indexes decide: a concurrent link of the same
// account waits for the first to commit, then fails.
// Errors: ErrAlreadyExists "account" when the account has an identity at the connection,
// "identity" when another account holds the identity; ErrMissingReference when the account or
// connection is gone.
func (s *Store) CreateCredential(ctx context.Context, c *models.Credential) error {
	return s.exec(ctx, credentialInsert, credentialArgs(c)...)
}

// credentialInsert is the plain insert of a credential.
var credentialInsert = credentialTable.insert()

// UpsertCredential makes c the account's binding at its connection, as the identity rule
// (models/binding.go) decides over the credentials stored now: inserted, or replacing the
// account's binding there, or refused when another account holds the identity. On PostgreSQL
// the decision is part of the upsert (decidedUpsertSQL: one statement). On SQLite, where a
// round trip is a function call, the owner is read, the rule decides in Go, then the upsert
// runs: SQLite runs an INSERT … SELECT with a statement journal that copies every page it
// touches, which made the one-statement form cost four times the two (measured). Run it in a
// transaction there for the read and the write to see the same state; either way the unique
// index on the identity still refuses a binding that lost a race to a concurrent one.
// Errors: ErrAlreadyExists "identity" when another account holds the identity; ErrMissingReference when the account or connection is gone.
func (s *Store) UpsertCredential(ctx context.Context, c *models.Credential) error {
	db, err := s.handle(ctx, true)
	if err != nil {
		return err
	}
	conn := db.Statement.ConnPool
	if s.dialect == Postgres {
		res, err := conn.ExecContext(ctx, decidedUpsertSQL, decidedUpsert.args(nil, c, true)...)
		if err != nil {
			return translate(err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return translate(err)
		} else if n == 0 { // the decision was BindTaken: the statement wrote nothing
			return &ErrAlreadyExists{Field: "identity"}
		}
		return nil
	}
	var owner uuid.NullUUID
	err = conn.QueryRowContext(ctx, bindingOwnerSQL, c.WorkspaceID, c.ConnectionID, c.IdentifierKey).Scan(&owner)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return translate(err)
	}
	if models.DecideBind(owner.UUID, c.UserAccountID, false) == models.BindTaken {
		return &ErrAlreadyExists{Field: "identity"}
	}
	_, err = conn.ExecContext(ctx, upsertCredentialSQL, credentialArgs(c)...)
	return translate(err)
}

// The state the identity rule decides on, as the database reads it: the account the identity
// (workspace, connection, identifier key) is bound to now, none when it is unbound. SQLite
// reads it (bindingOwnerSQL) and decides in Go; the PostgreSQL statements join it as o
// (ownerJoin) and decide in SQL (ruleLetsBind). The connection must reach the join as a value
// (a parameter, or an InitPlan's result), never as a column of another relation of the join:
// given o.connection_id = k.id, the planner may probe the identity index on workspace and key
// alone and filter the connection, which reads every identity of the workspace (measured on a
// growing table: 1,933 rows removed per binding after a second of the benchmark).
const bindingOwnerSQL = `SELECT user_account_id FROM credentials WHERE workspace_id = ? AND connection_id = ? AND identifier_key = ?`

func ownerJoin(ws, conn, key string) string {
	return "LEFT JOIN credentials o ON o.workspace_id = " + ws + " AND o.connection_id = " + conn + " AND o.identifier_key = " + key
}

// ruleLetsBind is the SQL condition under which the identity rule (models.BindDecisionSQL)
// lets account bind the identity ownerJoin joined: its decision is not BindTaken. It asks the
// rule with bound false: BindTaken depends on the owner alone, and whether a write is a
// BindNew or a BindReplace is what the upsert's conflict target finds as it writes, so probing
// for it would cost a lookup and change nothing.
func ruleLetsBind(account string) string {
	return models.BindDecisionSQL("o.user_account_id", account, "false") + " <> " + strconv.Itoa(int(models.BindTaken))
}

var (
	// decidedUpsert is the credential's columns as $1…$9 in credentialTable's order.
	decidedUpsert = credentialTable.insertSelect(1, nil)
	// decidedUpsertSQL writes the credential unless the identity rule decides BindTaken.
	decidedUpsertSQL = decidedUpsert.sql + ` FROM (SELECT 1) one ` +
		ownerJoin(decidedUpsert.param("workspace_id"), decidedUpsert.param("connection_id"), decidedUpsert.param("identifier_key")) +
		` WHERE ` + ruleLetsBind(decidedUpsert.param("user_account_id")) + ` ` + upsertCredentialConflict
)

// BindCredential upserts c (UpsertCredential: as the identity rule decides) and records ev,
// in one transaction.
// Errors: those of UpsertCredential and CreateAuditEvent; nothing is written then.
func (s *Store) BindCredential(ctx context.Context, c *models.Credential, ev *models.AuditEvent) error {
	return s.InTx(ctx, func(ctx context.Context) error {
		if err := s.UpsertCredential(ctx, c); err != nil {
			return err
		}
		return s.CreateAuditEvent(ctx, ev)
	})
}

// BindingTargets loads, in one query, the account to bind and the id of the live connection
// with the given slug. The account is nil when it does not exist in the workspace; the
// connection id is nil when no live connection has the slug.
// Errors: none of the contract; missing targets are nil results.
func (s *Store) BindingTargets(ctx context.Context, ws, accountID uuid.UUID, slug string) (*models.UserAccount, *uuid.UUID, error) {
	var row struct {
		models.UserAccount `gorm:"embedded"`
		BindConnectionID   *uuid.UUID
	}
	res := s.db(ctx).Raw(`SELECT u.*, (SELECT k.id FROM connections k WHERE k.workspace_id = u.workspace_id
		AND k.slug = ? AND k.deleted_at IS NULL) AS bind_connection_id
		FROM user_accounts u WHERE u.workspace_id = ? AND u.id = ?`, slug, ws, accountID).Scan(&row)
	if res.Error != nil {
		return nil, nil, translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return nil, nil, nil
	}
	return &row.UserAccount, row.BindConnectionID, nil
}

// bindAccountSQL is BindAccountCredential on PostgreSQL: the lookup of the account and of the
// live connection with the slug, the identity rule's decision (models.BindDecisionSQL over the
// identity's owner now: ownerJoin, ruleLetsBind), upsertCredentialSQL's upsert unless the decision is
// BindTaken, and the audit event, in one statement. It answers the account's row (none when
// it is missing) with the bound connection's id, or, when nothing was bound, the id of the
// live connection with the slug: with both account and connection there, only a BindTaken
// leaves the upsert without a row. The connection is looked up once (k, a CTE read three
// times, so PostgreSQL materializes it), and the owner's probe gets its id as an InitPlan's
// value (see bindingOwnerSQL), so a binding costs one index probe more than the upsert
// alone: the owner's.
//
// Its parameters: $1 the workspace, $2 the account, $3 the slug, then the credential's other
// columns (bindCredential), then the audit event's (bindAudit).
var (
	bindCredential = credentialTable.insertSelect(4, map[string]string{"workspace_id": "$1", "user_account_id": "u.id", "connection_id": "k.id"})
	bindAudit      = auditTable.insertSelect(4+len(bindCredential.free), map[string]string{"workspace_id": "$1"})
	bindAccountSQL = `WITH u AS (SELECT ` + userTable.list + ` FROM user_accounts
		WHERE workspace_id = $1 AND id = $2),
	k AS (SELECT id FROM connections WHERE workspace_id = $1 AND slug = $3 AND deleted_at IS NULL),
	bound AS (` + bindCredential.sql + ` FROM u CROSS JOIN k
		` + ownerJoin("$1", "(SELECT id FROM k)", bindCredential.param("identifier_key")) + `
		WHERE ` + ruleLetsBind("u.id") + `
		` + upsertCredentialConflict + ` RETURNING connection_id),
	audit AS (` + bindAudit.sql + ` FROM bound)
	SELECT u.*, (SELECT connection_id FROM bound),
		CASE WHEN (SELECT connection_id FROM bound) IS NULL THEN (SELECT id FROM k) END FROM u`
)

// BindAccountCredential binds the account c.UserAccountID of workspace c.WorkspaceID to c's
// identity at the workspace's live connection with the given slug, as the identity rule
// decides (see UpsertCredential), and records ev, atomically. It returns the account, nil when
// the workspace has none with that id, and whether the connection exists; when either is
// missing nothing is written. On success c.ConnectionID is set to the connection's id; on an
// error the other results mean nothing.
//
// On PostgreSQL it is one statement, so a binding costs one round trip, and the account's row
// is scanned by hand (scanUser): GORM's reflection on it cost more than the query. On SQLite,
// where a round trip is a function call, it is BindingTargets then BindCredential. Either
// way the identity rule decides (models.BindDecisionSQL in the statement; UpsertCredential).
// Errors: ErrAlreadyExists "identity" when another account holds the identity; missing targets are results, not errors.
func (s *Store) BindAccountCredential(ctx context.Context, slug string, c *models.Credential, ev *models.AuditEvent) (*models.UserAccount, bool, error) {
	if s.dialect != Postgres {
		u, connID, err := s.BindingTargets(ctx, c.WorkspaceID, c.UserAccountID, slug)
		if err != nil || u == nil || connID == nil {
			return u, false, err
		}
		c.ConnectionID = *connID
		return u, true, s.BindCredential(ctx, c, ev)
	}
	// UUIDs go to pgx as [16]byte, which it encodes in binary, rather than through
	// uuid.UUID's driver.Valuer (a string it then parses).
	args := make([]any, 3, 3+len(bindCredential.free)+len(bindAudit.free))
	args[0], args[1], args[2] = [16]byte(c.WorkspaceID), [16]byte(c.UserAccountID), slug
	args = bindAudit.args(bindCredential.args(args, c, true), ev, true)
	db, err := s.handle(ctx, true)
	if err != nil {
		return nil, false, err
	}
	rows, err := db.Statement.ConnPool.QueryContext(ctx, bindAccountSQL, args...)
	if err != nil {
		return nil, false, translate(err)
	}
	defer rows.Close()
	if !rows.Next() {
		return nil, false, translate(rows.Err())
	}
	u := new(models.UserAccount)
	var connID, unbound uuid.NullUUID
	if err := scanUser(rows, u, &connID, &unbound); err != nil {
		return nil, false, translate(err)
	}
	// Read to the end of the result: the audit insert, which nothing reads, runs after the
	// row is sent, and its failure is the statement's.
	if rows.Next() {
		return nil, false, fmt.Errorf("store: bind: more than one account row")
	}
	if err := rows.Err(); err != nil {
		return nil, false, translate(err)
	}
	if err := rows.Close(); err != nil {
		return nil, false, translate(err)
	}
	if unbound.Valid { // the connection is there and nothing was bound: the rule said BindTaken
		return nil, false, &ErrAlreadyExists{Field: "identity"}
	}
	c.ConnectionID = connID.UUID
	return u, connID.Valid, nil
}
