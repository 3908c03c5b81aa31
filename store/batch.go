package store

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"

	"gatehouse/models"
)

// Writes that belong together — a SCIM change, its activity row and the statistics counters
// they move — reach PostgreSQL as one statement, each write a data-modifying CTE. One round
// trip instead of five or six (BEGIN, the writes, the counters, COMMIT) is most of what a SCIM
// create or deactivation costs on a loaded machine, and a single statement is as atomic as the
// transaction it replaces. The hot rows (accounts, activity, counters) are written with
// statements built here, from column lists that tests check against GORM's; other models use
// GORM's own statements (built in dry-run mode). SQLite (in-process: no round trips to save)
// and callers already inside a transaction run the same writes one by one in a transaction.

// CreateAll inserts rows (models, in order) atomically, with the counters they move, as Create
// does for each.
// Errors: ErrAlreadyExists (the violated index's field), ErrMissingReference; nothing is written then.
func (s *Store) CreateAll(ctx context.Context, rows ...any) error {
	if s.dialect != Postgres || inTx(ctx) {
		return s.InTx(ctx, func(ctx context.Context) error {
			for _, r := range rows {
				if err := s.Create(ctx, r); err != nil {
					return err
				}
			}
			return nil
		})
	}
	var b pgBatch
	cctx, c := withCounts(ctx)
	for _, r := range rows {
		defaultSCIMData(r)
		if err := b.addInsert(s, r, false); err != nil {
			return err
		}
		if err := s.countCreated(cctx, r); err != nil {
			return err
		}
	}
	if err := s.addCounts(&b, c, false); err != nil {
		return err
	}
	_, err := b.exec(ctx, s)
	return err
}

// SaveSCIMUserWith saves u as SaveSCIMUser does (ErrStale when its version moved, ErrNotFound
// when it is gone) and, only if it was saved, inserts rows with their counters, atomically.
// Errors: those of SaveSCIMUser and of Create for rows; nothing is written then.
func (s *Store) SaveSCIMUserWith(ctx context.Context, u *models.UserAccount, rows ...any) error {
	if s.dialect != Postgres || inTx(ctx) {
		return s.InTx(ctx, func(ctx context.Context) error {
			if err := s.SaveSCIMUser(ctx, u); err != nil {
				return err
			}
			for _, r := range rows {
				if err := s.Create(ctx, r); err != nil {
					return err
				}
			}
			return nil
		})
	}
	now := s.now()
	var b pgBatch
	sql, vars := scimUserUpdate(u, now)
	if err := b.addSQL(sql, vars, false); err != nil {
		return err
	}
	cctx, c := withCounts(ctx)
	for _, r := range rows {
		if err := b.addInsert(s, r, true); err != nil {
			return err
		}
		if err := s.countCreated(cctx, r); err != nil {
			return err
		}
	}
	if err := s.addCounts(&b, c, true); err != nil {
		return err
	}
	saved, err := b.exec(ctx, s)
	if err != nil {
		return err
	}
	return s.savedVersion(ctx, u, saved, now)
}

// addCounts adds the counter upserts of c to the batch, one statement per counter row (a
// guarded insert carries one row).
func (s *Store) addCounts(b *pgBatch, c *counts, guarded bool) error {
	for _, r := range c.rows() {
		var err error
		if guarded {
			err = b.addGuarded(s, counterUpsertSQL, counterTable.args(r))
		} else {
			err = b.addSQL(counterUpsertSQL, counterTable.args(r), false)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// dry returns a session that builds statements without running them.
func (s *Store) dry() *gorm.DB {
	return s.gdb.Session(&gorm.Session{DryRun: true, NewDB: true})
}

// inTx reports whether ctx carries a transaction: InTx's, or InTxFromFirstWrite's (begun or
// not: its statements must go through s.db, s.query or s.exec).
func inTx(ctx context.Context) bool {
	_, ok := ctx.Value(txKey{}).(*gorm.DB)
	return ok || ctx.Value(firstWriteKey{}) != nil
}

// pgBatch joins PostgreSQL statements into one: each becomes a data-modifying CTE (w0, w1, …)
// of a SELECT that counts the rows the first one wrote. Statements added with guarded=true
// write only if the first statement (the guard) wrote a row.
type pgBatch struct {
	parts []string
	vars  []any
}

var (
	// oneRowInsert is GORM's single-row INSERT: table and columns, values, and the rest
	// (ON CONFLICT …).
	oneRowInsert = regexp.MustCompile(`(?s)^(INSERT INTO \S+ \([^)]*\)) VALUES \(([^()]*)\)(.*)$`)
)

// addInsert adds the INSERT of one model row.
func (b *pgBatch) addInsert(s *Store, row any, guarded bool) error {
	sql, vars, ok := hotInsert(row)
	if !ok {
		st := s.dry().Create(row).Statement
		if st.Error != nil {
			return translate(st.Error)
		}
		sql, vars = st.SQL.String(), st.Vars
	}
	if guarded {
		return b.addGuarded(s, sql, vars)
	}
	return b.addSQL(sql, vars, false)
}

// addGuarded adds a single-row INSERT … VALUES that writes only if the batch's first statement
// wrote a row.
func (b *pgBatch) addGuarded(s *Store, sql string, vars []any) error {
	g, ok := s.guardedInserts.Get(sql)
	if !ok {
		m := oneRowInsert.FindStringSubmatch(sql)
		if m == nil {
			return fmt.Errorf("store: cannot guard statement %.60q", sql)
		}
		g = m[1] + " SELECT " + m[2] + " FROM w0" + m[3]
		s.guardedInserts.Set(sql, g)
	}
	return b.addSQL(g, vars, true)
}

// addSQL adds one statement written with $1… placeholders for vars. guarded: sql is a guarded
// statement (see addGuarded), which needs a statement before it.
func (b *pgBatch) addSQL(sql string, vars []any, guarded bool) error {
	if guarded && len(b.parts) == 0 {
		return errors.New("store: a guarded statement needs a statement before it")
	}
	sql = renumber(sql, len(b.vars))
	if len(b.parts) == 0 && !strings.Contains(sql, "RETURNING") {
		sql += " RETURNING 1"
	}
	b.parts = append(b.parts, sql)
	b.vars = append(b.vars, vars...)
	return nil
}

// renumber shifts the $n placeholders of sql by offset.
func renumber(sql string, offset int) string {
	if offset == 0 {
		return sql
	}
	var b strings.Builder
	b.Grow(len(sql) + len(sql)/8)
	for i := 0; i < len(sql); i++ {
		c := sql[i]
		b.WriteByte(c)
		if c != '$' {
			continue
		}
		j := i + 1
		for j < len(sql) && '0' <= sql[j] && sql[j] <= '9' {
			j++
		}
		if j > i+1 {
			n, _ := strconv.Atoi(sql[i+1 : j])
			b.WriteString(strconv.Itoa(n + offset))
			i = j - 1
		}
	}
	return b.String()
}

// exec runs the batch as one statement and returns the number of rows the first statement
// wrote.
func (b *pgBatch) exec(ctx context.Context, s *Store) (int64, error) {
	var n int64
	err := s.gdb.WithContext(ctx).Statement.ConnPool.QueryRowContext(ctx, b.statement("SELECT count(*) FROM w0"), pgArgs(b.vars)...).Scan(&n)
	return n, translate(err)
}

// statement is the batch as one statement whose result is final (a SELECT over w0, w1, …).
func (b *pgBatch) statement(final string) string {
	var q strings.Builder
	q.WriteString("WITH ")
	for i, p := range b.parts {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("w" + strconv.Itoa(i) + " AS (" + p + ")")
	}
	q.WriteString(" " + final)
	return q.String()
}

// countersInsert is the upsert of counter rows (counterMerge).
func (s *Store) countersInsert(db *gorm.DB, rows []*scimCounter) *gorm.DB {
	return db.Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "workspace_id"}, {Name: "kind"}, {Name: "bucket"}, {Name: "shard"}},
		DoUpdates: clause.Assignments(map[string]any{"n": clause.Expr{SQL: counterMerge}}),
	}).Create(rows)
}

// Statements of the hot rows, built once. TestHotStatementsMatchGorm checks them against the
// statements GORM builds.
var (
	userInsertSQL     = userTable.pgInsert()
	activityInsertSQL = activityTable.pgInsert()
	counterUpsertSQL  = counterTable.pgInsert() +
		` ON CONFLICT ("workspace_id","kind","bucket","shard") DO UPDATE SET "n"=` + counterMerge
)

// activityTable describes the SCIM activity log, which every SCIM write appends to.
var activityTable = newTable("scim_activities",
	col("id", func(a *models.SCIMActivity) *uuid.UUID { return &a.ID }),
	col("workspace_id", func(a *models.SCIMActivity) *uuid.UUID { return &a.WorkspaceID }),
	col("token_id", func(a *models.SCIMActivity) **uuid.UUID { return &a.TokenID }),
	col("operation", func(a *models.SCIMActivity) *string { return &a.Operation }),
	col("resource_type", func(a *models.SCIMActivity) *string { return &a.ResourceType }),
	col("resource_id", func(a *models.SCIMActivity) *string { return &a.ResourceID }),
	col("status", func(a *models.SCIMActivity) *string { return &a.Status }),
	col("error_message", func(a *models.SCIMActivity) *string { return &a.ErrorMessage }),
	col("details", func(a *models.SCIMActivity) *string { return &a.Details }),
	col("created_at", func(a *models.SCIMActivity) *time.Time { return &a.CreatedAt }),
)

// defaultUserRole is the default of models.UserAccount.Role (its gorm tag).
var defaultUserRole = func() string {
	sch, err := schema.Parse(&models.UserAccount{}, &sync.Map{}, schema.NamingStrategy{})
	if err != nil {
		panic(err)
	}
	return sch.LookUpField("role").DefaultValue
}()

// userDefaults gives u the values GORM's Create would for its zero fields: the column defaults.
func userDefaults(u *models.UserAccount) {
	defaultSCIMData(u)
	if u.Role == "" { // as GORM does: a zero field with a default takes it
		u.Role = defaultUserRole
	}
}

// counterMerge adds counters up, except last_sync, which keeps the latest time (CASE works in
// both dialects).
const counterMerge = "CASE WHEN scim_counters.kind = '" + counterLastSync +
	"' THEN (CASE WHEN excluded.n > scim_counters.n THEN excluded.n ELSE scim_counters.n END) ELSE scim_counters.n + excluded.n END"

// hotInsert returns the INSERT of a user account or activity row, or ok=false for other rows.
func hotInsert(row any) (sql string, vars []any, ok bool) {
	switch r := row.(type) {
	case *models.UserAccount:
		userDefaults(r)
		return userInsertSQL, userArgs(r), true
	case *models.SCIMActivity:
		return activityInsertSQL, activityTable.args(r), true
	}
	return "", nil, false
}

// scimUserUpdate is SaveSCIMUser's versioned UPDATE as one PostgreSQL statement: the text is
// built once (the columns are fixed), each call only lines up the values.
func scimUserUpdate(u *models.UserAccount, now time.Time) (string, []any) {
	return pgSCIMUserUpdateSQL, versionedArgs(u, scimWrite, now)
}
