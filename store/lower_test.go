package store

import (
	"context"
	"testing"

	"gatehouse/store/storetest"
)

// TestLowerCollation: a PostgreSQL database whose LC_CTYPE is C lower-cases ASCII letters only,
// so the store lower-cases with a collation that folds every letter (ICU's, or C.UTF-8's); a
// database with a UTF-8 LC_CTYPE needs none; one with neither gets the operator's warning.
// (TestSCIMFilterFoldsEveryLetter proves the filters over HTTP on such a database.)
func TestLowerCollation(t *testing.T) {
	ctx := context.Background()
	open := func(t *testing.T, url string) *Store {
		s, err := Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	cCtype := "TEMPLATE template0 LC_CTYPE 'C' LC_COLLATE 'C'"
	s := open(t, storetest.PostgresURLWith(t, ""))
	var ctype string
	if err := s.RawScan(ctx, &ctype, "SHOW lc_ctype"); err != nil {
		t.Fatal(err)
	}
	if ctype != "C" && ctype != "POSIX" && (s.lowerCollation != "" || s.CaseFoldingWarning() != "") {
		t.Fatalf("LC_CTYPE %s: collation %q, warning %q; want neither", ctype, s.lowerCollation, s.CaseFoldingWarning())
	}
	c := open(t, storetest.PostgresURLWith(t, cCtype))
	if c.lowerCollation == "" || c.CaseFoldingWarning() != "" {
		t.Fatalf("LC_CTYPE C: collation %q, warning %q; want a collation and no warning", c.lowerCollation, c.CaseFoldingWarning())
	}
	url := storetest.PostgresURLWith(t, cCtype)
	bare := open(t, url)
	for _, name := range foldingCollations {
		if err := bare.gdb.Exec(`DROP COLLATION IF EXISTS "` + name + `"`).Error; err != nil {
			t.Fatal(err)
		}
	}
	if w := open(t, url).CaseFoldingWarning(); w == "" {
		t.Fatal("LC_CTYPE C and no folding collation: no warning")
	}
}
