package store

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"gatehouse/models"
)

// Writes that belong together — a SCIM change, its activity row and the statistics counters
// they move — reach PostgreSQL as one statement, each write a data-modifying CTE. One round
// trip instead of five or six (BEGIN, the writes, the counters, COMMIT) is most of what a SCIM
// create or deactivation costs on a loaded machine, and a single statement is as atomic as the
// transaction it replaces. The statements are GORM's own (built in dry-run mode), so column
// mapping stays in one place. SQLite (in-process: no round trips to save) and callers already
// inside a transaction run the same writes one by one in a transaction.

// CreateAll inserts rows (models, in order) atomically, with the counters they move, as Create
// does for each.
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
		if err := b.add(s.dry().Create(r).Statement, false); err != nil {
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

// SaveScimUserWith saves u as SaveScimUser does (ErrStale when its version moved, ErrNotFound
// when it is gone) and, only if it was saved, inserts rows with their counters, atomically.
func (s *Store) SaveScimUserWith(ctx context.Context, u *models.UserAccount, rows ...any) error {
	if s.dialect != Postgres || inTx(ctx) {
		return s.InTx(ctx, func(ctx context.Context) error {
			if err := s.SaveScimUser(ctx, u); err != nil {
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
	upd := s.dry().Model(&models.UserAccount{}).Where("workspace_id = ? AND id = ? AND version = ?", u.WorkspaceID, u.ID, u.Version).
		Updates(scimUserColumns(u, now)).Statement
	if err := b.add(upd, false); err != nil {
		return err
	}
	cctx, c := withCounts(ctx)
	for _, r := range rows {
		if err := b.add(s.dry().Create(r).Statement, true); err != nil {
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
		if err := b.add(s.countersInsert(s.dry(), []*scimCounter{r}).Statement, guarded); err != nil {
			return err
		}
	}
	return nil
}

// dry returns a session that builds statements without running them.
func (s *Store) dry() *gorm.DB {
	return s.gdb.Session(&gorm.Session{DryRun: true, NewDB: true})
}

func inTx(ctx context.Context) bool {
	_, ok := ctx.Value(txKey{}).(*gorm.DB)
	return ok
}

// pgBatch joins PostgreSQL statements into one: every statement but the last becomes a CTE
// (w0, w1, …). The first statement may be the guard: statements added with guarded=true write
// only if the guard changed a row, and exec reports how many rows it changed.
type pgBatch struct {
	parts []string
	vars  []any
}

var (
	pgPlaceholder = regexp.MustCompile(`\$(\d+)`)
	// oneRowInsert is GORM's single-row INSERT: table and columns, values, and the rest
	// (ON CONFLICT …).
	oneRowInsert = regexp.MustCompile(`(?s)^(INSERT INTO \S+ \([^)]*\)) VALUES \(([^()]*)\)(.*)$`)
)

func (b *pgBatch) add(st *gorm.Statement, guarded bool) error {
	if st.Error != nil {
		return translate(st.Error)
	}
	sql := st.SQL.String()
	if guarded {
		m := oneRowInsert.FindStringSubmatch(sql)
		if m == nil || len(b.parts) == 0 {
			return fmt.Errorf("store: cannot guard statement %.60q", sql)
		}
		sql = m[1] + " SELECT " + m[2] + " FROM w0" + m[3]
	}
	offset := len(b.vars)
	sql = pgPlaceholder.ReplaceAllStringFunc(sql, func(p string) string {
		n, _ := strconv.Atoi(p[1:])
		return "$" + strconv.Itoa(n+offset)
	})
	if len(b.parts) == 0 && !strings.Contains(sql, "RETURNING") {
		sql += " RETURNING 1"
	}
	b.parts = append(b.parts, sql)
	b.vars = append(b.vars, st.Vars...)
	return nil
}

// exec runs the batch as one statement and returns the number of rows the first statement
// wrote.
func (b *pgBatch) exec(ctx context.Context, s *Store) (int64, error) {
	var q strings.Builder
	q.WriteString("WITH ")
	for i, p := range b.parts {
		if i > 0 {
			q.WriteString(", ")
		}
		fmt.Fprintf(&q, "w%d AS (%s)", i, p)
	}
	q.WriteString(" SELECT count(*) FROM w0")
	var n int64
	err := s.gdb.WithContext(ctx).Statement.ConnPool.QueryRowContext(ctx, q.String(), b.vars...).Scan(&n)
	return n, translate(err)
}

// countersInsert is the upsert of counter rows: counters add up; last_sync keeps the latest
// time (CASE works in both dialects).
func (s *Store) countersInsert(db *gorm.DB, rows []*scimCounter) *gorm.DB {
	return db.Clauses(clause.OnConflict{
		Columns: []clause.Column{{Name: "workspace_id"}, {Name: "kind"}, {Name: "bucket"}, {Name: "shard"}},
		DoUpdates: clause.Assignments(map[string]any{"n": clause.Expr{SQL: "CASE WHEN scim_counters.kind = '" + counterLastSync +
			"' THEN (CASE WHEN excluded.n > scim_counters.n THEN excluded.n ELSE scim_counters.n END) ELSE scim_counters.n + excluded.n END"}}),
	}).Create(rows)
}
