package store

import (
	"context"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/store/storetest"
)

// TestMigration42SSOListedStartsUnknown: a SAML connection that follows its metadata when
// migration 42 runs has not had its SSO URL listed by a read yet (false: the next read sets
// it), and keeps its report; a check recorded after it reads back, and migrating again leaves
// it. On both dialects.
func TestMigration42SSOListedStartsUnknown(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		s := openTestStore(t, dbURL, 41)
		conn := connectionFixtures(t, s)
		old := conn("Entra SAML", models.ProtocolSAML)
		checked := time.Now().UTC().Truncate(time.Millisecond)
		old.SAMLMetadataURL, old.SAMLMetadataRefresh, old.SAMLSSOURL = "https://login.example.com/federationmetadata.xml", true, "https://login.example.com/saml2"
		old.SAMLMetadataCheckedAt, old.SAMLMetadataProblem = &checked, "metadata unreachable"
		if err := createInOldTable(ctx, s, old); err != nil {
			t.Fatal(err)
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		got, err := s.Connection(ctx, old.WorkspaceID, old.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.SAMLMetadataSSOListed || got.SAMLMetadataProblem != old.SAMLMetadataProblem || got.SAMLMetadataCheckedAt == nil {
			t.Fatalf("after migration 42: listed %v, problem %q, checked %v", got.SAMLMetadataSSOListed, got.SAMLMetadataProblem, got.SAMLMetadataCheckedAt)
		}
		err = s.RecordSAMLMetadataCheck(ctx, old.WorkspaceID, old.ID, SAMLMetadataCheck{MetadataURL: old.SAMLMetadataURL,
			SSOURL: old.SAMLSSOURL, At: checked, SSOListed: true})
		if err != nil {
			t.Fatal(err)
		}
		migrateTwice(t, s)
		if got, err := s.Connection(ctx, old.WorkspaceID, old.ID); err != nil || !got.SAMLMetadataSSOListed || got.SAMLMetadataProblem != "" {
			t.Fatalf("after migrating again: %+v, %v; want listed, no problem", got, err)
		}
	})
}
