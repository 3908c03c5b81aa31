package store

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gatehouse/models"
	"gatehouse/store/storetest"
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

// A database of an earlier schema (here before migration 12 made saml_answers), asked before
// it is migrated, as a start without its SQLite key file asks: its sealed columns are read as
// they are, the missing ones hold nothing, and nothing is migrated. On both dialects.
func TestHasSealedValuesBeforeMigrating(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		s := openTestStore(t, dbURL, 11)
		for _, want := range []bool{false, true} {
			if want {
				key := &models.SigningKey{ID: "kid", Algorithm: "ES256", PublicKey: []byte{1}, PrivateKeyEnc: []byte{2}, CreatedAt: s.now()}
				if err := createInOldTable(ctx, s, key); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Migratable(ctx); err != nil {
				t.Fatalf("Migratable: %v", err)
			}
			if has, err := s.HasSealedValues(ctx); has != want || err != nil {
				t.Fatalf("HasSealedValues: %v, %v; want %v", has, err, want)
			}
		}
		if v, err := s.SchemaVersion(ctx); v != 11 || err != nil {
			t.Fatalf("schema version %d, %v: migrated", v, err)
		}
	})
}

// A reseal the database stops midway returns counts of what its committed batches moved
// only: the batch it stopped in rolled back (here a trigger refuses the update of the second
// connection, so the first one's, in the same batch, is undone too), and the counts are what
// the command prints and the audit event records as moved. On both dialects.
func TestResealSecretsCountsOnlyCommittedBatches(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		s := openTestStore(t, dbURL, allMigrations)
		conn := connectionFixtures(t, s)
		first, second := conn("First", models.ProtocolOIDC), conn("Second", models.ProtocolOIDC)
		if first.ID.String() > second.ID.String() { // the batch reads by id
			first, second = second, first
		}
		for _, c := range []*models.Connection{first, second} {
			c.OIDCClientSecretEnc = []byte("old-" + c.ID.String())
			if err := s.Create(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		refuse := []string{`CREATE FUNCTION refuse_update() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$ LANGUAGE plpgsql`,
			`CREATE TRIGGER refuse_update BEFORE UPDATE ON connections FOR EACH ROW WHEN (OLD.id = '` + second.ID.String() + `') EXECUTE FUNCTION refuse_update()`}
		if s.Dialect() == SQLite {
			refuse = []string{`CREATE TRIGGER refuse_update BEFORE UPDATE ON connections WHEN OLD.id = '` + second.ID.String() +
				`' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`}
		}
		for _, q := range refuse {
			if _, err := s.DB().Exec(q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		resealed, _, err := s.ResealSecrets(ctx, func(v []byte) ([]byte, bool, error) {
			return append([]byte("new-"), v...), true, nil
		})
		if err == nil || !strings.Contains(err.Error(), "refused by the test") {
			t.Fatalf("a reseal the database stopped: %v", err)
		}
		var v []byte
		if err := s.db(ctx).Raw("SELECT oidc_client_secret_enc FROM connections WHERE id = ?", first.ID).Row().Scan(&v); err != nil {
			t.Fatal(err)
		}
		if string(v) != "old-"+first.ID.String() {
			t.Fatalf("the first connection's value after the batch rolled back: %q", v)
		}
		if n := resealed["connections.oidc_client_secret_enc"]; n != 0 {
			t.Fatalf("resealed %v: counts %d values of connections the rolled-back batch did not move", resealed, n)
		}
	})
}
