package store

import (
	"context"
	"testing"

	"gatehouse/models"
	"gatehouse/store/storetest"
)

// TestMigration22LeavesSAMLCertificatesToTheAdmin: the SAML connections that exist when
// migration 22 runs keep the certificates their admin gave them, with no refresh from
// metadata and no report; a connection stored with a refresh reads back with it. On both
// dialects, migrating twice.
func TestMigration22LeavesSAMLCertificatesToTheAdmin(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		s := openTestStore(t, dbURL, 21)
		conn := connectionFixtures(t, s)
		old := conn("Okta SAML", models.ProtocolSAML)
		old.SAMLMetadataURL = "https://idp.example.com/metadata"
		if err := createInOldTable(ctx, s, old); err != nil {
			t.Fatal(err)
		}
		migrateTwice(t, s)
		follows := conn("Entra SAML", models.ProtocolSAML)
		follows.SAMLMetadataURL, follows.SAMLMetadataRefresh = "https://login.example.com/federationmetadata.xml", true
		if err := s.Create(ctx, follows); err != nil {
			t.Fatal(err)
		}
		got, err := s.Connection(ctx, old.WorkspaceID, old.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.SAMLMetadataRefresh || got.SAMLMetadataCheckedAt != nil || got.SAMLMetadataProblem != "" || got.SAMLMetadataURL != old.SAMLMetadataURL {
			t.Errorf("existing connection after migration 22: %+v", got)
		}
		got, err = s.Connection(ctx, follows.WorkspaceID, follows.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !got.SAMLMetadataRefresh {
			t.Errorf("a connection stored with a refresh reads back without: %+v", got)
		}
	})
}
