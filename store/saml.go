package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/google/uuid"

	"gatehouse/models"
)

// UseSAMLAssertion records that the assertion ID sent by a connection's IdP was accepted. It
// reports false when the ID was recorded before (a replay). The insert is one statement that
// cannot fail on the conflict, so it may run inside a transaction on PostgreSQL too.
// Errors: none of the contract; a replay reports false.
func (s *Store) UseSAMLAssertion(ctx context.Context, connectionID uuid.UUID, assertionID string, expiresAt time.Time) (bool, error) {
	res := s.db(ctx).Exec(useAssertionSQL, connectionID, assertionID, expiresAt.UTC())
	if res.Error != nil {
		return false, translate(res.Error)
	}
	return res.RowsAffected == 1, nil
}

// SAMLFlow loads the flow whose upstream state has the hash stateHash together with its live
// connection, in one query (the ACS needs both; the plain path, FlowByUpstreamState then
// Connection, is two round trips). ErrNotFound when there is no such flow or its connection
// was deleted: the plain reads tell which.
// Errors: ErrNotFound when no flow matches or its connection is deleted.
func (s *Store) SAMLFlow(ctx context.Context, stateHash string) (*models.SignInFlow, *models.Connection, error) {
	f, c := &models.SignInFlow{}, &models.Connection{}
	err := s.queryOne(ctx, func(rows *sql.Rows) error { return rows.Scan(flowTable.dest(f, connectionTable.dest(c)...)...) },
		samlFlowSQL, stateHash)
	if err != nil {
		return nil, nil, err
	}
	flowTable.scanned(f)
	connectionTable.scanned(c)
	return f, c, nil
}

// samlFlowSQL selects the columns of the flow f, then those of its connection c.
var samlFlowSQL = "SELECT " + flowTable.qualified("f") + ", " + connectionTable.qualified("c") +
	` FROM sign_in_flows f JOIN connections c ON c.workspace_id = f.workspace_id
		AND c.id = f.connection_id AND c.deleted_at IS NULL WHERE f.upstream_state_hash = ? LIMIT 1`

// samlAssertion is a row of saml_assertions: an assertion ID a connection's IdP sent, accepted
// once until it expires.
type samlAssertion struct {
	ConnectionID uuid.UUID `gorm:"primaryKey"`
	AssertionID  string    `gorm:"primaryKey"`
	ExpiresAt    time.Time
}

func (samlAssertion) TableName() string { return "saml_assertions" }

// samlAnswer is a row of saml_answers: the (encrypted) identity a flow's IdP answered with.
type samlAnswer struct {
	FlowID      uuid.UUID `gorm:"primaryKey"`
	IdentityEnc []byte
	ExpiresAt   time.Time
	// IdentifierKey is the identity's identifier as credentials key it (models.Key), for the
	// continuation's lookup of the person (ClaimSAMLFlow).
	IdentifierKey string
}

func (samlAnswer) TableName() string { return "saml_answers" }

var (
	assertionTable = newTable("saml_assertions",
		col("connection_id", func(a *samlAssertion) *uuid.UUID { return &a.ConnectionID }),
		col("assertion_id", func(a *samlAssertion) *string { return &a.AssertionID }),
		col("expires_at", func(a *samlAssertion) *time.Time { return &a.ExpiresAt }),
	)
	answerTable = newTable("saml_answers",
		col("flow_id", func(a *samlAnswer) *uuid.UUID { return &a.FlowID }),
		col("identity_enc", func(a *samlAnswer) *[]byte { return &a.IdentityEnc }),
		col("expires_at", func(a *samlAnswer) *time.Time { return &a.ExpiresAt }),
		col("identifier_key", func(a *samlAnswer) *string { return &a.IdentifierKey }),
	)
	assertionConflict = " ON CONFLICT (connection_id, assertion_id) DO NOTHING"
	answerConflict    = " ON CONFLICT (flow_id) DO NOTHING"
	useAssertionSQL   = assertionTable.plainInsert() + assertionConflict
	putAnswerSQL      = answerTable.plainInsert() + answerConflict
	// acceptAnswerSQL is AcceptSAMLAnswer on PostgreSQL: the answer is inserted only from the
	// assertion's inserted row.
	acceptAnswerSQL = `WITH a AS (` + useAssertionSQL + ` RETURNING 1),
		b AS (` + answerTable.insertSelect(0, nil).sql + ` FROM a` + answerConflict + ` RETURNING 1)
		SELECT (SELECT count(*) FROM a), (SELECT count(*) FROM b)`
)

// PruneSAMLAssertions deletes the assertion IDs and answers that expired before t, in batches
// (pruneExpired).
// Errors: none of the contract.
func (s *Store) PruneSAMLAssertions(ctx context.Context, t time.Time) (int64, error) {
	var n int64
	for _, table := range []string{"saml_assertions", "saml_answers"} {
		m, err := s.pruneExpired(ctx, table, t)
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// pruneExpired deletes the rows of table that expired before t, pruneBatch rows a statement
// until none is left (pruneBatches), so that a backlog (a busy hour's assertions, or the prune
// not run for a while) is never one statement that outlasts the serving statement_timeout, or
// holds SQLite's write lock for all of it. Each batch is chosen through the table's expiry
// index (expiredRows) and deleted by the row's address (PostgreSQL's ctid, SQLite's rowid:
// every one of these tables has one, whatever its primary key). It returns how many rows it
// deleted.
func (s *Store) pruneExpired(ctx context.Context, table string, t time.Time) (int64, error) {
	q := pruneExpiredSQL(s.dialect, table)
	return s.pruneBatches(ctx, func(ctx context.Context) (int64, error) {
		res := s.db(ctx).Exec(q, t.UTC(), pruneBatch)
		return res.RowsAffected, translate(res.Error)
	})
}

// pruneExpiredSQL is pruneExpired's statement: ? are the cutoff and the batch's size. The batch
// is read in a statement's snapshot, so no address in it can be another row's by the time the
// delete reads it.
func pruneExpiredSQL(dialect, table string) string {
	address := "rowid"
	if dialect == Postgres {
		address = "ctid"
	}
	return batchDeleteSQL(dialect, table, address,
		`SELECT `+address+` FROM `+table+` WHERE expires_at < ? ORDER BY expires_at LIMIT ?`)
}

// PutSAMLAnswer stores the (encrypted) identity a flow's IdP answered with, and the key of its
// identifier. It reports false when the flow has an answer already.
// Errors: none of the contract; an answered flow reports false.
func (s *Store) PutSAMLAnswer(ctx context.Context, flowID uuid.UUID, identityEnc []byte, expiresAt time.Time, identifierKey string) (bool, error) {
	res := s.db(ctx).Exec(putAnswerSQL, flowID, identityEnc, expiresAt.UTC(), identifierKey)
	if res.Error != nil {
		return false, translate(res.Error)
	}
	return res.RowsAffected == 1, nil
}

// SAMLAnswer is a checked response to keep: its assertion ID, accepted once per connection
// until AssertionExpires, and the flow's (encrypted) identity until AnswerExpires, with the key
// of its identifier (models.Key).
type SAMLAnswer struct {
	ConnectionID     uuid.UUID
	AssertionID      string
	AssertionExpires time.Time
	FlowID           uuid.UUID
	IdentityEnc      []byte
	AnswerExpires    time.Time
	IdentifierKey    string
}

// AcceptSAMLAnswer is UseSAMLAssertion, then, when the ID was fresh, PutSAMLAnswer: it reports
// whether the assertion ID was fresh and whether the answer was stored. On PostgreSQL it is
// one statement (a data-modifying CTE: the answer is inserted only from the assertion's
// inserted row), one round trip instead of two; on SQLite a two-statement transaction.
// Errors: none of the contract; replays are results, not errors.
func (s *Store) AcceptSAMLAnswer(ctx context.Context, a SAMLAnswer) (assertionFresh, answerFresh bool, err error) {
	if s.dialect != Postgres {
		err = s.InTx(ctx, func(ctx context.Context) error {
			if assertionFresh, err = s.UseSAMLAssertion(ctx, a.ConnectionID, a.AssertionID, a.AssertionExpires); err != nil || !assertionFresh {
				return err
			}
			answerFresh, err = s.PutSAMLAnswer(ctx, a.FlowID, a.IdentityEnc, a.AnswerExpires, a.IdentifierKey)
			return err
		})
		return assertionFresh, answerFresh, err
	}
	var assertions, answers int
	err = s.queryOne(ctx, func(rows *sql.Rows) error { return rows.Scan(&assertions, &answers) }, acceptAnswerSQL,
		a.ConnectionID, a.AssertionID, a.AssertionExpires.UTC(), a.FlowID, a.IdentityEnc, a.AnswerExpires.UTC(), a.IdentifierKey)
	if err != nil {
		return false, false, err
	}
	return assertions == 1, answers == 1, nil
}

// TakeSAMLAnswer returns a flow's answer and deletes it, in one statement; ErrNotFound when
// there is none.
// Errors: ErrNotFound when no row matches.
func (s *Store) TakeSAMLAnswer(ctx context.Context, flowID uuid.UUID) ([]byte, error) {
	var enc []byte
	err := s.queryOne(ctx, func(rows *sql.Rows) error { return rows.Scan(&enc) },
		`DELETE FROM saml_answers WHERE flow_id = ? RETURNING identity_enc`, flowID)
	if err != nil {
		return nil, err
	}
	return enc, nil
}

// ReadSAMLAnswer returns a flow's answer and leaves it for the flow's continuation (a test
// sign-in that failed before its browser continued shows the identity it holds).
// Errors: ErrNotFound when the flow has no answer.
func (s *Store) ReadSAMLAnswer(ctx context.Context, flowID uuid.UUID) ([]byte, error) {
	var enc []byte
	err := s.queryOne(ctx, func(rows *sql.Rows) error { return rows.Scan(&enc) },
		`SELECT identity_enc FROM saml_answers WHERE flow_id = ?`, flowID)
	if err != nil {
		return nil, err
	}
	return enc, nil
}

// IdentityLookup is what UserAccountByLiveIdentity answers for an identifier key, read in
// advance by another statement (ClaimSAMLFlow): User is nil when nobody is bound to the
// identity through a live connection.
type IdentityLookup struct {
	WorkspaceID, ConnectionID uuid.UUID
	IdentifierKey             string
	User                      *models.UserAccount
	DerivedEmail              string
}

// ClaimSAMLFlow is ClaimFlow for the browser's continuation of a SAML flow, taking the flow's
// answer with it (TakeSAMLAnswer). On PostgreSQL it is one statement, which also looks up the
// person bound to the answer's identity (UserAccountByLiveIdentity for the flow's workspace and
// connection and the answer's identifier key): two round trips fewer per SAML sign-in. Then
// lookup is that lookup's answer; nil when it did not run (SQLite, or no answer). A claimed
// flow without an answer returns a nil answer. On SQLite the claim is a statement of its own:
// when taking the answer then fails, the claimed flow is returned with the error.
// Errors: ErrNotFound when the flow cannot be claimed (as ClaimFlow).
func (s *Store) ClaimSAMLFlow(ctx context.Context, stateHash string, browserHashes []string, now time.Time) (f *models.SignInFlow, answer []byte, lookup *IdentityLookup, err error) {
	if s.dialect != Postgres || len(browserHashes) == 0 {
		f, err := s.ClaimFlow(ctx, stateHash, browserHashes, now)
		if err != nil {
			return nil, nil, nil, err
		}
		enc, err := s.TakeSAMLAnswer(ctx, f.ID)
		if errors.Is(err, ErrNotFound) {
			return f, nil, nil, nil
		}
		return f, enc, nil, err
	}
	f = new(models.SignInFlow)
	var key, derived sql.NullString
	u, found := &models.UserAccount{}, false
	err = s.queryOne(ctx, func(rows *sql.Rows) error {
		dest := flowTable.dest(f, &answer, &key)
		return rows.Scan(append(append(dest, userTable.destOrNull(u, &found)...), &derived)...)
	}, claimSAMLFlowSQL(len(browserHashes)), claimArgs(now, stateHash, browserHashes)...)
	if err != nil {
		return nil, nil, nil, err
	}
	flowTable.scanned(f)
	if answer == nil {
		return f, nil, nil, nil
	}
	lookup = &IdentityLookup{WorkspaceID: f.WorkspaceID, ConnectionID: f.ConnectionID, IdentifierKey: key.String}
	if found {
		userTable.scanned(u)
		lookup.User, lookup.DerivedEmail = u, derived.String
	}
	return f, answer, lookup, nil
}

// claimSAMLFlowSQL claims the flow (f) bound to one of n browser hashes and takes its answer
// (a), then looks up, through a live connection, the account bound to the answer's identifier
// (u: none without an answer).
func claimSAMLFlowSQL(n int) string {
	return `WITH f AS (UPDATE sign_in_flows SET claimed_at = ?
		WHERE upstream_state_hash = ? AND browser_hash IN ` + inList(n) + ` AND claimed_at IS NULL AND expires_at > ? RETURNING ` + flowList + `),
	a AS (DELETE FROM saml_answers WHERE flow_id IN (SELECT id FROM f) RETURNING identity_enc, identifier_key)
	SELECT ` + flowTable.qualified("f") + `, a.identity_enc, a.identifier_key, ` + userTable.qualified("u") + `, u.derived_email
	FROM f LEFT JOIN a ON true LEFT JOIN LATERAL (SELECT ` + userSelect + `, user_accounts.derived_email FROM user_accounts ` +
		liveIdentity("f.workspace_id", "f.connection_id", "a.identifier_key") + `) u ON true`
}

// SAMLSPKeys loads every stored service provider key (current, next, previous).
// Errors: none of the contract; no match is an empty result.
func (s *Store) SAMLSPKeys(ctx context.Context) ([]*models.SAMLSPKey, error) {
	var ks []*models.SAMLSPKey
	err := s.db(ctx).Order("created_at").Find(&ks).Error
	return ks, translate(err)
}

// PromoteSAMLSPKey makes the next key current in one transaction: the current key becomes the
// previous one (replacing an older previous key) and the next key becomes current. It returns
// ErrNotFound when there is no next key.
// Errors: ErrNotFound when there is no next key.
func (s *Store) PromoteSAMLSPKey(ctx context.Context) error {
	return s.InTx(ctx, func(ctx context.Context) error {
		db := s.db(ctx)
		// The next key is locked as it is found (PostgreSQL; SQLite has one writer): a
		// concurrent promotion then waits, and finds it current, not next. A count would let
		// both promote, the second moving the keys again: dropping the key just made previous
		// and leaving the promoted one previous, with no current key.
		q := db.Model(&models.SAMLSPKey{}).Select("id").Where("id = ?", models.SPKeyNext)
		if s.dialect == Postgres {
			q = q.Clauses(forUpdate)
		}
		var next []string
		if err := q.Find(&next).Error; err != nil {
			return translate(err)
		}
		if len(next) == 0 {
			return ErrNotFound
		}
		for _, st := range [][]any{
			{"DELETE FROM saml_sp_keys WHERE id = ?", models.SPKeyPrevious},
			{"UPDATE saml_sp_keys SET id = ? WHERE id = ?", models.SPKeyPrevious, models.SPKeyCurrent},
			{"UPDATE saml_sp_keys SET id = ? WHERE id = ?", models.SPKeyCurrent, models.SPKeyNext},
		} {
			if err := db.Exec(st[0].(string), st[1:]...).Error; err != nil {
				return translate(err)
			}
		}
		return nil
	})
}

// DeleteSAMLSPKey removes the key with the given role; ErrNotFound when there is none.
// Errors: ErrNotFound when no row matches.
func (s *Store) DeleteSAMLSPKey(ctx context.Context, id string) error {
	res := s.db(ctx).Where("id = ?", id).Delete(&models.SAMLSPKey{})
	if res.Error == nil && res.RowsAffected == 0 {
		return ErrNotFound
	}
	return translate(res.Error)
}

// TestSignIn loads a test sign-in of a connection of the workspace.
// Errors: ErrNotFound when no row matches.
func (s *Store) TestSignIn(ctx context.Context, ws, connectionID, id uuid.UUID) (*models.TestSignIn, error) {
	var t models.TestSignIn
	if err := first(s.scoped(ctx, ws).Where("connection_id = ? AND id = ?", connectionID, id), &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// TestSignInByToken loads a test sign-in by the hash of its URL's token.
// Errors: ErrNotFound when no row matches.
func (s *Store) TestSignInByToken(ctx context.Context, tokenHash string) (*models.TestSignIn, error) {
	var t models.TestSignIn
	if err := first(s.db(ctx).Where("token_hash = ?", tokenHash), &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// LastTestSignInFlow finds the flow test sign-in testID started last (the latest to expire):
// a test's flow has no application, and its state is the test's id.
// Errors: ErrNotFound when the test started none (or only flows pruned since).
func (s *Store) LastTestSignInFlow(ctx context.Context, ws, testID uuid.UUID) (*models.SignInFlow, error) {
	var f models.SignInFlow
	q := s.scoped(ctx, ws).Where("application_id = ? AND test = ? AND state = ?", uuid.Nil, true, testID.String())
	if err := first(q.Order("expires_at DESC"), &f); err != nil {
		return nil, err
	}
	return &f, nil
}

// FinishTestSignIn records the outcome of a pending test sign-in; a finished one keeps its
// first outcome (ErrNotFound).
// Errors: ErrNotFound when the test sign-in is missing or finished.
func (s *Store) FinishTestSignIn(ctx context.Context, t *models.TestSignIn) error {
	res := s.scoped(ctx, t.WorkspaceID).Model(&models.TestSignIn{}).
		Where("id = ? AND status = ?", t.ID, models.TestSignInPending).
		Updates(map[string]any{"status": t.Status, "result": t.Result, "error": t.Error, "cause": t.Cause, "browser_hash": t.BrowserHash, "updated_at": s.now()})
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// PruneTestSignIns deletes the test sign-ins that expired before t, in batches (pruneExpired)
// through ix_test_sign_ins_expires (migration 37).
// Errors: none of the contract.
func (s *Store) PruneTestSignIns(ctx context.Context, t time.Time) (int64, error) {
	return s.pruneExpired(ctx, "test_sign_ins", t)
}
