package store

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"gatehouse/models"
)

// openTestStore opens dbURL (a storetest database) for this package's own tests, closed when
// the test ends, migrated up to version last (allMigrations: every step).
func openTestStore(t *testing.T, dbURL string, last int) *Store {
	t.Helper()
	s, err := Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.migrateTo(context.Background(), last); err != nil {
		t.Fatal(err)
	}
	return s
}

const allMigrations = math.MaxInt

// migrateTwice applies the migrations not yet applied, then again: a migrated database can
// always be migrated again.
func migrateTwice(t *testing.T, s *Store) {
	t.Helper()
	for i := 0; i < 2; i++ {
		if err := s.Migrate(context.Background()); err != nil {
			t.Fatalf("migrate #%d: %v", i+1, err)
		}
	}
}

// createInOldTable inserts row into its table as the table is at the store's version: the
// model's fields whose column the table lacks (a later migration adds it) are left out, read
// from the table itself, so that a migration test stores rows at an old version without naming
// each column added since (a new column would otherwise mean editing every such test).
func createInOldTable(ctx context.Context, s *Store, row any) error {
	db := s.db(ctx)
	stmt := &gorm.Statement{DB: db}
	if err := stmt.Parse(row); err != nil {
		return err
	}
	cols, err := db.Migrator().ColumnTypes(stmt.Schema.Table)
	if err != nil {
		return err
	}
	has := map[string]bool{}
	for _, c := range cols {
		has[c.Name()] = true
	}
	var absent []string
	for _, f := range stmt.Schema.Fields {
		if f.DBName != "" && !has[f.DBName] {
			absent = append(absent, f.Name)
		}
	}
	if len(absent) == 0 {
		return translate(db.Create(row).Error)
	}
	return translate(db.Omit(absent...).Create(row).Error)
}

// connectionFixtures stores a workspace in s and returns a maker of live connections of it
// (not stored: a migration test stores them as the table it tests allows).
func connectionFixtures(t *testing.T, s *Store) func(name string, p models.Protocol) *models.Connection {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Millisecond)
	ws := &models.Workspace{ID: NewID(), Name: "W", CreatedAt: now}
	if err := s.Create(context.Background(), ws); err != nil {
		t.Fatal(err)
	}
	return func(name string, p models.Protocol) *models.Connection {
		return &models.Connection{ID: NewID(), WorkspaceID: ws.ID, Name: name, NameKey: models.Key(name), Slug: models.Slugify(name),
			Protocol: p, Status: models.StatusActive, SAMLAttributeMapping: "{}", DefaultRole: models.DefaultRole,
			Version: 1, CreatedAt: now, UpdatedAt: now}
	}
}

// applicationFixtures stores a workspace and a brand (with the store's generic insert, which
// an old schema takes) and returns a maker of confidential applications of that brand,
// signing with alg; none is stored.
func applicationFixtures(t *testing.T, s *Store, alg models.IDTokenAlg) func(clientID string) *models.Application {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	ws := &models.Workspace{ID: NewID(), Name: "W", CreatedAt: now}
	brand := &models.Brand{ID: NewID(), WorkspaceID: ws.ID, Name: "B", NameKey: "b", Slug: "b", Version: 1, CreatedAt: now, UpdatedAt: now}
	for _, row := range []any{ws, brand} {
		if err := translate(s.db(ctx).Create(row).Error); err != nil {
			t.Fatal(err)
		}
	}
	return func(clientID string) *models.Application {
		return &models.Application{ID: NewID(), WorkspaceID: ws.ID, BrandID: brand.ID, ClientID: clientID, Name: clientID,
			Type: models.ApplicationConfidential, RedirectURIsJSON: `["https://app/cb"]`, PostLogoutRedirectURIsJSON: "[]",
			IDTokenSignedResponseAlg: alg, Version: 1, CreatedAt: now, UpdatedAt: now}
	}
}

// storedApplication stores a brand and a confidential application of it in workspace ws, as
// the table is at the store's version (createInOldTable), and returns the application's id:
// a grant redeems only while its application exists.
func storedApplication(t *testing.T, s *Store, ws uuid.UUID) uuid.UUID {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	slug := "b-" + NewID().String()
	brand := &models.Brand{ID: NewID(), WorkspaceID: ws, Name: slug, NameKey: slug, Slug: slug, Version: 1, CreatedAt: now, UpdatedAt: now}
	app := &models.Application{ID: NewID(), WorkspaceID: ws, BrandID: brand.ID, ClientID: "app-" + slug, Name: "App",
		Type: models.ApplicationConfidential, RedirectURIsJSON: `["https://app/cb"]`, PostLogoutRedirectURIsJSON: "[]",
		IDTokenSignedResponseAlg: models.IDTokenES256, Version: 1, CreatedAt: now, UpdatedAt: now}
	for _, row := range []any{brand, app} {
		if err := createInOldTable(ctx, s, row); err != nil {
			t.Fatal(err)
		}
	}
	return app.ID
}
