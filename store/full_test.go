package store

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"gatehouse/models"
)

// A SQLite database that cannot grow (SQLITE_FULL, here from max_page_count) fails writes
// with ErrUnavailable naming the full disk, inside and outside a transaction, stores none of
// them, and takes writes again as soon as it can grow. The OS-level fault (the process's
// file size limit) is TestFaultSQLiteDiskFull in the root package.
func TestSQLiteFullIsUnavailable(t *testing.T) {
	ctx := context.Background()
	st, err := Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "full.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	var pages int64
	if err := st.RawScan(ctx, &pages, "PRAGMA page_count"); err != nil {
		t.Fatal(err)
	}
	// One connection: the pragma holds for every later statement.
	if err := st.RawScan(ctx, new(int64), fmt.Sprintf("PRAGMA max_page_count = %d", pages)); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 64<<10) // needs pages the file may not add
	writes := map[string]func() error{
		"create": func() error {
			return st.Create(ctx, &models.Workspace{ID: NewID(), Name: big, CreatedAt: time.Now()})
		},
		"transaction": func() error {
			return st.InTx(ctx, func(ctx context.Context) error {
				return st.Create(ctx, &models.Workspace{ID: NewID(), Name: big, CreatedAt: time.Now()})
			})
		},
	}
	for name, write := range writes {
		err := write()
		if models.ErrorCode(err) != models.EUNAVAILABLE || !strings.Contains(err.Error(), "disk holding the SQLite database is full") {
			t.Errorf("%s on a full database: %v (code %s), want UNAVAILABLE naming the full disk", name, err, models.ErrorCode(err))
		}
	}
	var n int64
	if err := st.RawScan(ctx, &n, "SELECT count(*) FROM workspaces WHERE length(name) > 1000"); err != nil || n != 0 {
		t.Fatalf("%d failed writes stored (%v)", n, err)
	}
	if err := st.RawScan(ctx, new(int64), "PRAGMA max_page_count = 1073741823"); err != nil {
		t.Fatal(err)
	}
	for name, write := range writes {
		if err := write(); err != nil {
			t.Errorf("%s once the database may grow: %v", name, err)
		}
	}
}

// PostgreSQL's disk_full is a full disk too.
func TestPostgresDiskFullIsUnavailable(t *testing.T) {
	err := translate(fmt.Errorf("insert: %w", &pgconn.PgError{Code: "53100", Message: `could not extend file "base/16384/16390": No space left on device`}))
	if models.ErrorCode(err) != models.EUNAVAILABLE || !strings.Contains(err.Error(), "disk of the PostgreSQL server is full") {
		t.Fatalf("disk_full: %v (code %s)", err, models.ErrorCode(err))
	}
}
