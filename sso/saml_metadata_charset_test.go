package sso_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/text/encoding/charmap"

	"gatehouse/sso/samltest"
)

// TestSAMLMetadataCharsets: metadata that declares an encoding other than UTF-8 (older AD FS
// and Shibboleth exports declare ISO-8859-1 or windows-1252) is read in that encoding, at a
// metadata URL as bytes; pasted as metadataXml it is text already, read as it is. Its
// non-ASCII characters come back as they were; an encoding Gatehouse cannot read is refused
// saying so.
func TestSAMLMetadataCharsets(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		idp := samltest.New(t)
		metadata := idp.Metadata(t)
		// served is the document each metadata URL of the test server serves, as bytes.
		served := map[string][]byte{}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/samlmetadata+xml")
			w.Write(served[r.URL.Path])
		}))
		defer srv.Close()
		// document is the IdP's metadata with entityID as its entity ID, declaring charset.
		document := func(entityID, charset string) string {
			return `<?xml version="1.0" encoding="` + charset + `"?>` + "\n" +
				strings.Replace(metadata, `entityID="`+idp.EntityID+`"`, `entityID="`+entityID+`"`, 1)
		}
		create := func(name string, samlConfig map[string]any) map[string]any {
			t.Helper()
			body, _ := json.Marshal(map[string]any{"name": name, "protocol": "saml", "samlConfig": samlConfig})
			created := e.REST(e.AdminToken(), "POST", "/api/v1/sso/connections", string(body)).Must(t, 201).Body
			return get(created, "connection", "samlConfig").(map[string]any)
		}
		for _, c := range []struct {
			charset  string
			encoder  *charmap.Charmap
			entityID string
		}{
			{"ISO-8859-1", charmap.ISO8859_1, "https://idp.example.com/sécurité"},
			{"windows-1252", charmap.Windows1252, "https://idp.example.com/l’accès"}, // ’ is 0x92, a C1 control in ISO-8859-1
			{"latin1", charmap.ISO8859_1, "https://idp.example.com/équipe"},
		} {
			raw, err := c.encoder.NewEncoder().String(document(c.entityID, c.charset))
			if err != nil {
				t.Fatal(err)
			}
			served["/"+c.charset] = []byte(raw)
			got := create("From "+c.charset, map[string]any{"metadataUrl": srv.URL + "/" + c.charset})
			if got["entityId"] != c.entityID || got["ssoUrl"] != idp.SSOURL || got["certificate"] != strings.TrimSpace(idp.CertificatePEM) {
				t.Fatalf("%s at a metadata URL: %v", c.charset, got)
			}
			// Pasted, the document is characters: its declaration does not decode them again.
			got = create("Pasted "+c.charset, map[string]any{"metadataXml": document(c.entityID, c.charset)})
			if got["entityId"] != c.entityID {
				t.Fatalf("%s pasted: %v", c.charset, got)
			}
		}

		served["/unknown"] = []byte(document(idp.EntityID, "x-mac-klingon"))
		body, _ := json.Marshal(map[string]any{"name": "Unknown", "protocol": "saml", "samlConfig": map[string]any{"metadataUrl": srv.URL + "/unknown"}})
		e.REST(e.AdminToken(), "POST", "/api/v1/sso/connections", string(body)).MustError(t, 400, "validation_error",
			`samlConfig.metadataUrl cannot be read: metadata `+srv.URL+`/unknown declares the character encoding "x-mac-klingon", which Gatehouse cannot read: save it as UTF-8`)
	})
}
