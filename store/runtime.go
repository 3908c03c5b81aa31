package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	sqlitedriver "github.com/glebarez/go-sqlite"
	"github.com/jackc/pgx/v5/pgconn"
	sqlite3 "modernc.org/sqlite/lib"

	"gatehouse/models"
)

// unavailable marks err with models.ErrUnavailable when it says the database could not
// answer in time or at all (deadline, cancelled statement, lock or pool wait, lost or refused
// connection, server shutting down or out of connections, SQLite busy, SQLite's files not
// writable): the caller may retry and nothing was committed. Other errors pass through
// unchanged.
func unavailable(err error) error {
	if err == nil || errors.Is(err, models.ErrUnavailable) {
		return err
	}
	if fault := storageFault(err); fault != "" {
		// The only line an operator may read of it: say what to do about it, not just the code.
		return fmt.Errorf("%w: %s: %w", models.ErrUnavailable, fault, err)
	}
	if !transient(err) {
		return err
	}
	return fmt.Errorf("%w: %w", models.ErrUnavailable, err)
}

// storageFault names the cause of an error that says the database's files could not be
// written or read, or "" for any other error. On SQLite a full disk is SQLITE_FULL when
// write(2) says ENOSPC, but SQLITE_IOERR_WRITE when it says anything else (EFBIG at a file
// size limit, EIO), and a write that extends the -shm or truncates the -wal fails as its own
// I/O error; the driver keeps no errno to tell them apart. SQLite rolls the transaction back,
// and the connection serves again once the disk has room: the caller may retry later.
func storageFault(err error) string {
	var pg *pgconn.PgError
	if errors.As(err, &pg) && pg.Code == "53100" { // disk_full
		return "the disk of the PostgreSQL server is full"
	}
	var se *sqlitedriver.Error
	if !errors.As(err, &se) {
		return ""
	}
	switch code := se.Code(); {
	case code&0xff == sqlite3.SQLITE_FULL:
		return "the disk holding the SQLite database is full"
	case code == sqlite3.SQLITE_IOERR_WRITE, code == sqlite3.SQLITE_IOERR_TRUNCATE,
		code == sqlite3.SQLITE_IOERR_SHMSIZE, code == sqlite3.SQLITE_IOERR_FSYNC:
		return "the SQLite database's files cannot be written: the disk is full, a file size limit is reached, or the disk failed"
	case code&0xff == sqlite3.SQLITE_IOERR:
		return "I/O error on the SQLite database's files"
	}
	return ""
}

func transient(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, sql.ErrConnDone) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || pgconn.Timeout(err) {
		return true
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		switch {
		case pg.Code == "57014", // query_canceled: statement_timeout
			pg.Code == "55P03",                // lock_not_available
			pg.Code == "53300",                // too_many_connections
			strings.HasPrefix(pg.Code, "57P"), // admin/crash shutdown, cannot connect now
			strings.HasPrefix(pg.Code, "08"),  // connection exception
			abortedCode(pg.Code):              // serialization failure, deadlock: retry
			return true
		}
		return false
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	if errors.As(err, &ce) || errors.As(err, &ne) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "database is locked") || strings.Contains(msg, "SQLITE_BUSY") ||
		strings.Contains(msg, "conn closed") || strings.Contains(msg, "unexpected EOF")
}

// sqliteBusy reports whether err is SQLite's SQLITE_BUSY: another process held the write lock
// longer than the busy timeout.
func sqliteBusy(err error) bool {
	var se *sqlitedriver.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY
}

// busyTimeout is how long SQLite waits for another writer: 10 s, or the statement timeout
// when shorter. The driver does not interrupt that wait when a context ends, so it must end
// before the HTTP write timeout on its own.
func busyTimeout(statement time.Duration) time.Duration {
	if statement > 0 && statement < 10*time.Second {
		return statement
	}
	return 10 * time.Second
}

// withStatementTimeout adds PostgreSQL's statement_timeout to a connection string that does
// not set one.
func withStatementTimeout(raw string, d time.Duration) string {
	if d <= 0 {
		return raw
	}
	return withRuntimeParam(raw, "statement_timeout", strconv.FormatInt(d.Milliseconds(), 10))
}

// withAsyncCommit sets synchronous_commit off: the DSN of the AsyncCommit pool. A connection
// string that sets synchronous_commit itself keeps it: an operator who wants every commit to
// wait for the disk gets that on both pools.
func withAsyncCommit(raw string) string {
	return withRuntimeParam(raw, "synchronous_commit", "off")
}

// withRuntimeParam adds a PostgreSQL run-time parameter (pgx sends it at connect) to a
// connection URL that does not set it already, as a query parameter or in options ("-c
// name=…"). Only the query is looked at: a password or database name that happens to contain
// the parameter's name does not count. Anything but a postgres URL is returned as it is
// (store.Open accepts no other form).
func withRuntimeParam(raw, name, value string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return raw
	}
	q := u.Query()
	if q.Has(name) || strings.Contains(q.Get("options"), name) {
		return raw
	}
	q.Set(name, value)
	u.RawQuery = q.Encode()
	return u.String()
}

// createPrivate creates the SQLite database file readable by its owner only (0600) and syncs
// its directory, before the driver would create it with the process umask (usually 0644).
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: create database file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("store: create database file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("store: create database file: %w", err)
	}
	return SyncDir(path)
}

// SyncDir fsyncs the directory holding path, so that a newly created file survives a crash.
func SyncDir(path string) error {
	dir := "."
	if i := strings.LastIndexByte(path, os.PathSeparator); i >= 0 {
		dir = path[:i+1]
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Password forms Describe masks beyond a URL's user:password@: a password query parameter
// (?password=…, &password=…) and a key=value connection string's password=… (quoted or not).
var (
	kvPassword  = regexp.MustCompile(`(?i)(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&]*)`)
	urlPassword = regexp.MustCompile(`(://[^:/@]*:)[^/]*@`) // a URL net/url refused to parse
)

// Describe returns a database URL or connection string with every password masked, for logs.
func Describe(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Scheme != "" && u.Opaque == "" {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
		q := u.Query()
		for k := range q {
			if strings.EqualFold(k, "password") || strings.EqualFold(k, "sslpassword") {
				q.Set(k, "xxxxx")
			}
		}
		u.RawQuery = q.Encode()
		raw = u.String()
	}
	raw = urlPassword.ReplaceAllString(raw, "${1}xxxxx@")
	return kvPassword.ReplaceAllString(raw, "${1}xxxxx")
}
