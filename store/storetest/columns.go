package storetest

import (
	"bytes"
	"context"
	"database/sql"
	"testing"
)

// Column is the values of one column of one table.
type Column struct {
	Name   string // table.column
	Values []string
}

// Columns reads every column of every table of db (PostgreSQL when postgres, else SQLite):
// each value that is not empty, as the driver returns it in text. Tests search it for what
// must never be stored in plain text.
func Columns(t testing.TB, db *sql.DB, postgres bool) []Column {
	t.Helper()
	ctx := context.Background()
	list := "SELECT name FROM sqlite_master WHERE type = 'table'"
	if postgres {
		list = "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
	}
	var tables []string
	rs, err := db.QueryContext(ctx, list)
	if err != nil {
		t.Fatal(err)
	}
	for rs.Next() {
		var name string
		if err := rs.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	rs.Close()
	if len(tables) < 10 {
		t.Fatalf("storetest: only %d tables: %v", len(tables), tables)
	}
	var out []Column
	for _, table := range tables {
		rows, err := db.QueryContext(ctx, `SELECT * FROM "`+table+`"`)
		if err != nil {
			t.Fatal(err)
		}
		names, _ := rows.Columns()
		cols := make([]Column, len(names))
		vals := make([]sql.RawBytes, len(names))
		dest := make([]any, len(names))
		for i, n := range names {
			cols[i].Name, dest[i] = table+"."+n, &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(dest...); err != nil {
				t.Fatal(err)
			}
			for i, v := range vals {
				if len(bytes.TrimSpace(v)) > 0 {
					cols[i].Values = append(cols[i].Values, string(v))
				}
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		out = append(out, cols...)
	}
	return out
}
