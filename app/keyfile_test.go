package app

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"gatehouse/secret"
	"gatehouse/store"
)

// The SQLite key file is made by a hard link of a temporary file written whole; on a file
// system that takes no hard link (SMB, some FUSE mounts) it is created in place instead. Both
// ways the key is there whole, mode 0600, no temporary file is left, and a second start reads
// the same key.
func TestKeyFileWithoutHardLinks(t *testing.T) {
	for _, links := range []bool{true, false} {
		t.Run(map[bool]string{true: "hard link", false: "no hard links"}[links], func(t *testing.T) {
			if !links {
				linkFile = func(string, string) error { return &os.LinkError{Op: "link", Err: syscall.EPERM} }
				defer func() { linkFile = os.Link }()
			}
			dir := t.TempDir()
			c := Config{DatabaseURL: "sqlite:" + filepath.Join(dir, "gatehouse.db")}
			box, err := encryptionBox(context.Background(), c)
			if err != nil {
				t.Fatalf("first start: %v", err)
			}
			raw, err := os.ReadFile(filepath.Join(dir, "gatehouse.db.key"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := secret.NewBox(strings.TrimSpace(string(raw))); err != nil {
				t.Fatalf("the key file %q: %v", raw, err)
			}
			if fi, _ := os.Stat(filepath.Join(dir, "gatehouse.db.key")); fi.Mode().Perm() != 0o600 {
				t.Fatalf("mode %v", fi.Mode().Perm())
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				t.Fatalf("left in the directory: %v", entries)
			}
			sealed := box.Seal([]byte("a secret"))
			again, err := encryptionBox(context.Background(), c)
			if err != nil {
				t.Fatalf("second start: %v", err)
			}
			if opened, err := again.Open(sealed); err != nil || string(opened) != "a secret" {
				t.Fatalf("the second start's key opens %q, %v", opened, err)
			}
			if err := createKeyFile(filepath.Join(dir, "gatehouse.db.key"), secret.NewKey()); !errors.Is(err, os.ErrExist) {
				t.Fatalf("a key file made over an existing one: %v", err)
			}
		})
	}
}

// With SQLite and the key file, GATEHOUSE_PREVIOUS_ENCRYPTION_KEYS open what those keys
// sealed too: a rotation that writes the new key into the file and lists the old one as
// previous works as one with both variables set.
func TestKeyFileWithPreviousKeys(t *testing.T) {
	c := Config{DatabaseURL: "sqlite:" + filepath.Join(t.TempDir(), "gatehouse.db")}
	if _, err := encryptionBox(context.Background(), c); err != nil { // makes the key file
		t.Fatal(err)
	}
	oldKey := secret.NewKey()
	old, _ := secret.NewBox(oldKey)
	sealed := old.Seal([]byte("a secret"))
	c.PreviousEncryptionKeys = []string{oldKey}
	box, err := encryptionBox(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if opened, err := box.Open(sealed); err != nil || string(opened) != "a secret" {
		t.Fatalf("the key file's box with the previous key opens %q, %v", opened, err)
	}
}

// A SQLite database moved or restored without its key file does not start with a new key,
// which would open none of its secrets and stand in the way of the right one: the start is
// refused, saying what is missing, and no key file is made. A database that holds no secret
// yet (an empty file; one `gatehouse migrate` made) gets its key and starts.
func TestKeyFileMissingBesideADatabase(t *testing.T) {
	ctx, log := context.Background(), slog.New(slog.DiscardHandler)
	dir := t.TempDir()
	db := filepath.Join(dir, "gatehouse.db")
	c := Config{DatabaseURL: "sqlite:" + db, PublicURL: "http://localhost:8080"}
	a, err := New(ctx, c, log, io.Discard) // a database with its signing keys, and its key file
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	if err := os.Remove(db + ".key"); err != nil {
		t.Fatal(err)
	}
	_, err = New(ctx, c, log, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "has no key file beside it ("+db+".key)") || !strings.Contains(err.Error(), "GATEHOUSE_ENCRYPTION_KEY") {
		t.Fatalf("a database without its key file: %v", err)
	}
	if _, err := os.Stat(db + ".key"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a key file was made: %v", err)
	}
	if _, err := encryptionBox(context.Background(), Config{DatabaseURL: "sqlite:" + db, EncryptionKey: secret.NewKey()}); err != nil {
		t.Fatalf("with GATEHOUSE_ENCRYPTION_KEY: %v", err)
	}
	// An empty file, and a database only migrated: each starts, with a key file made.
	empty, migrated := filepath.Join(dir, "empty.db"), filepath.Join(dir, "migrated.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, "sqlite:"+migrated)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	st.Close()
	for _, path := range []string{empty, migrated} {
		a, err := New(ctx, Config{DatabaseURL: "sqlite:" + path, PublicURL: "http://localhost:8080"}, log, io.Discard)
		if err != nil {
			t.Fatalf("%s: %v", filepath.Base(path), err)
		}
		a.Close()
		if _, err := os.Stat(path + ".key"); err != nil {
			t.Fatalf("%s: no key file: %v", filepath.Base(path), err)
		}
	}
}

// A value the key file's key does not open (the file replaced by another database's) names
// the key file, not GATEHOUSE_ENCRYPTION_KEY, which the operator never set.
func TestKeyFileNamedWhenItDoesNotOpen(t *testing.T) {
	dir := t.TempDir()
	c := Config{DatabaseURL: "sqlite:" + filepath.Join(dir, "gatehouse.db")}
	box, err := encryptionBox(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	sealed := box.Seal([]byte("a secret"))
	if err := os.WriteFile(filepath.Join(dir, "gatehouse.db.key"), []byte(secret.NewKey()), 0o600); err != nil {
		t.Fatal(err)
	}
	other, err := encryptionBox(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Open(sealed); err == nil || !strings.Contains(err.Error(), "cannot decrypt with the key file "+filepath.Join(dir, "gatehouse.db.key")) ||
		strings.Contains(err.Error(), "GATEHOUSE_ENCRYPTION_KEY") {
		t.Fatalf("a value the key file does not open: %v", err)
	}
	c.PreviousEncryptionKeys = []string{secret.NewKey()}
	if other, err = encryptionBox(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Open(sealed); err == nil || !strings.Contains(err.Error(), "cannot decrypt with the key file "+filepath.Join(dir, "gatehouse.db.key")+" nor any of GATEHOUSE_PREVIOUS_ENCRYPTION_KEYS") {
		t.Fatalf("with previous keys: %v", err)
	}
}

// encryptionBox is the at-rest encryption box New uses: configuredBox's, else the SQLite key
// file's (sqliteKeyBox).
func encryptionBox(ctx context.Context, c Config) (*secret.Box, error) {
	if box, err := configuredBox(c); box != nil || err != nil {
		return box, err
	}
	return sqliteKeyBox(ctx, c)
}
