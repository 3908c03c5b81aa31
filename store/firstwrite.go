package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"gorm.io/gorm"
)

// A transaction begun at its first write (InTxFromFirstWrite). A browser's first sign-in
// reads what its decision needs and then writes everything in one statement (RecordSignIn with
// the provisioned rows): on PostgreSQL such a transaction's BEGIN and COMMIT would be two of
// its round trips for nothing, since under READ COMMITTED every statement sees what has
// committed when it runs, in a transaction or not. A decision that writes more than once (a
// link by email, a refreshed profile) still writes in one transaction, begun before its first
// write.

type firstWriteKey struct{}

// firstWriteTx is the state of one InTxFromFirstWrite.
type firstWriteTx struct {
	// tx is the transaction, nil until a write begins it.
	tx *gorm.DB
	// last: a write ran on its own as fn's last (execLast); no write may follow it.
	last bool
	// done: InTxFromFirstWrite returned. A ctx that outlived it begins nothing (sql.ErrTxDone,
	// as a finished InTx's transaction answers).
	done bool
}

// errWriteAfterLast: a write followed the statement that was to be its transaction's last
// (execLast). A programming error: that statement committed on its own.
var errWriteAfterLast = errors.New("store: a write after the statement that was to be the transaction's last")

// InTxFromFirstWrite runs fn as InTx does, except that on PostgreSQL the transaction begins
// only at fn's first write (or locking read, or statement through GORM): the plain reads
// before it run on the pool. A write the store runs as its caller's last (RecordSignIn) runs
// on its own, committing by itself, when nothing began the transaction before it; no write
// may follow it then. Callers decide under READ COMMITTED, where reading in the transaction
// isolated nothing more. As in any transaction, fn's statements run one at a time. On SQLite,
// and inside a transaction, it is InTx.
// Errors: fn's, unchanged; a failed BEGIN or COMMIT wraps models.ErrUnavailable.
func (s *Store) InTxFromFirstWrite(ctx context.Context, fn func(ctx context.Context) error) (err error) {
	if s.dialect != Postgres || inTx(ctx) {
		return s.InTx(ctx, fn)
	}
	fw := &firstWriteTx{}
	ctx, counts := withCounts(context.WithValue(ctx, firstWriteKey{}, fw))
	defer func() {
		fw.done = true
		if fw.tx == nil {
			return
		}
		if p := recover(); p != nil {
			fw.tx.Rollback()
			panic(p)
		}
		if err != nil {
			fw.tx.Rollback()
		}
	}()
	if err := fn(ctx); err != nil {
		return err
	}
	// Counters are moved only by writes, which began the transaction, or by the last
	// statement, which wrote them (RecordSignIn).
	if err := s.flushCounts(ctx, counts); err != nil {
		return err
	}
	if fw.tx == nil {
		return nil
	}
	return unavailable(fw.tx.Commit().Error)
}

// handle returns the transaction or pool a statement of ctx runs on. write: the statement
// writes or locks rows, which begins InTxFromFirstWrite's transaction.
func (s *Store) handle(ctx context.Context, write bool) (*gorm.DB, error) {
	if tx, ok := ctx.Value(txKey{}).(*gorm.DB); ok {
		return tx, nil
	}
	if fw, ok := ctx.Value(firstWriteKey{}).(*firstWriteTx); ok {
		switch {
		case fw.done:
			return nil, sql.ErrTxDone
		case fw.tx != nil:
			return fw.tx, nil
		case write && fw.last:
			return nil, errWriteAfterLast
		case write:
			tx := s.pool(ctx).WithContext(ctx).Begin()
			if tx.Error != nil {
				return nil, unavailable(tx.Error)
			}
			fw.tx = tx
			return tx, nil
		}
	}
	return s.pool(ctx).WithContext(ctx), nil
}

// execLast runs one statement as exec does; as the last write of an InTxFromFirstWrite
// whose transaction nothing has begun, it runs on its own, on the pool, and commits by itself.
func (s *Store) execLast(ctx context.Context, sql string, args ...any) error {
	if fw, ok := ctx.Value(firstWriteKey{}).(*firstWriteTx); ok && fw.tx == nil && !fw.last {
		if _, inTx := ctx.Value(txKey{}).(*gorm.DB); !inTx {
			fw.last = true
			return s.execOn(ctx, s.pool(ctx).WithContext(ctx), sql, args...)
		}
	}
	return s.exec(ctx, sql, args...)
}

// plainRead reports whether a statement only reads, without locking rows: a SELECT
// without FOR UPDATE, FOR SHARE or the like (any " FOR " counts, to err towards a
// transaction). A data-modifying statement starts otherwise (INSERT, UPDATE, DELETE, WITH).
func plainRead(sql string) bool {
	return strings.HasPrefix(sql, "SELECT ") && !strings.Contains(sql, " FOR ")
}
