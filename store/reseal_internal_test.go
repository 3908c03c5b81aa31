package store

import (
	"regexp"
	"slices"
	"testing"
)

// Every column the migrations name *_enc holds sealed values: it must be in sealedColumns, or
// gatehouse reencrypt would leave its values to a key about to be retired.
func TestSealedColumnsListEveryEncryptedColumn(t *testing.T) {
	var listed []string
	for _, c := range sealedColumns {
		listed = append(listed, c.table+"."+c.column)
	}
	tables := regexp.MustCompile(`(?s)CREATE TABLE (\w+) \((.*?)\n\);`)
	columns := regexp.MustCompile(`(\w+_enc)\s+\{bytes\}`)
	added := regexp.MustCompile(`ALTER TABLE (\w+) ADD COLUMN (\w+_enc)`)
	var found []string
	for _, m := range migrations {
		for _, sql := range []string{m.sql, m.postgres, m.sqlite} {
			for _, tb := range tables.FindAllStringSubmatch(sql, -1) {
				for _, col := range columns.FindAllStringSubmatch(tb[2], -1) {
					found = append(found, tb[1]+"."+col[1])
				}
			}
			for _, a := range added.FindAllStringSubmatch(sql, -1) {
				found = append(found, a[1]+"."+a[2])
			}
		}
	}
	for _, f := range found {
		if !slices.Contains(listed, f) {
			t.Errorf("the migrations add the sealed column %s, which sealedColumns does not list", f)
		}
	}
	for _, l := range listed {
		if !slices.Contains(found, l) {
			t.Errorf("sealedColumns lists %s, which no migration adds", l)
		}
	}
}
