package sso_test

import (
	"encoding/base64"
	"encoding/pem"
	"encoding/xml"
	"io"
	"net/http"
	"testing"

	"github.com/crewjam/saml"
)

// spMetadataCerts fetches the public SP metadata and returns its certificates (PEM bodies
// compared as DER base64) per use, in document order.
func spMetadataCerts(t *testing.T, base string) (signing, encryption []string) {
	t.Helper()
	resp, err := http.Get(base + "/saml/metadata")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var ed saml.EntityDescriptor
	if err := xml.Unmarshal(raw, &ed); err != nil {
		t.Fatalf("metadata: %v\n%s", err, raw)
	}
	for _, kd := range ed.SPSSODescriptors[0].KeyDescriptors {
		c := kd.KeyInfo.X509Data.X509Certificates[0].Data
		switch kd.Use {
		case "signing":
			signing = append(signing, c)
		case "encryption":
			encryption = append(encryption, c)
		}
	}
	return signing, encryption
}

func derB64(t *testing.T, certPEM string) string {
	t.Helper()
	b, _ := pem.Decode([]byte(certPEM))
	if b == nil {
		t.Fatalf("not PEM: %q", certPEM)
	}
	return base64.StdEncoding.EncodeToString(b.Bytes)
}

// TestSAMLSPKeyRotationREST: a rotation publishes the next certificate beside the current one,
// promotion switches them and keeps the old one published, retirement drops it; every
// replica's metadata follows. Only the platform admin rotates (the keys serve every workspace).
func TestSAMLSPKeyRotationREST(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		tok := e.AdminToken()
		keys := e.REST(tok, "GET", "/api/v1/sso/sp-keys", "").Must(t, 200)
		cur := str(keys.Body, "keys", 0, "certificate")
		if str(keys.Body, "keys", 0, "role") != "current" || get(keys.Body, "keys", 1) != nil || len(str(keys.Body, "keys", 0, "fingerprintSha256")) != 64 ||
			str(keys.Body, "keys", 0, "notAfter") < "2035" {
			t.Fatalf("keys: %s", keys.Raw)
		}
		s, enc := spMetadataCerts(t, e.URL)
		if len(s) != 1 || len(enc) != 1 || s[0] != derB64(t, cur) || enc[0] != s[0] {
			t.Fatalf("metadata before rotation: signing %d, encryption %d", len(s), len(enc))
		}
		e.REST(tok, "POST", "/api/v1/sso/sp-keys/promote", "").MustError(t, 409, "invalid_state", "start a rotation first")
		e.REST(tok, "DELETE", "/api/v1/sso/sp-keys/previous", "").MustError(t, 409, "invalid_state", "no previous SP key")

		next := str(e.REST(tok, "POST", "/api/v1/sso/sp-keys/rotate", "").Must(t, 201).Body, "key", "certificate")
		e.REST(tok, "POST", "/api/v1/sso/sp-keys/rotate", "").MustError(t, 409, "invalid_state", "a next SP key exists already")
		replica := e.Replica()
		for _, base := range []string{e.URL, replica} {
			s, enc = spMetadataCerts(t, base)
			if len(s) != 2 || s[0] != derB64(t, cur) || s[1] != derB64(t, next) || len(enc) != 2 || enc[0] != s[0] {
				t.Fatalf("metadata at %s during rotation: %d signing, %d encryption", base, len(s), len(enc))
			}
		}

		keys = e.REST(tok, "POST", "/api/v1/sso/sp-keys/promote", "").Must(t, 200)
		if str(keys.Body, "keys", 0, "role") != "current" || str(keys.Body, "keys", 0, "certificate") != next ||
			str(keys.Body, "keys", 1, "role") != "previous" || str(keys.Body, "keys", 1, "certificate") != cur {
			t.Fatalf("after promotion: %s", keys.Raw)
		}
		s, _ = spMetadataCerts(t, e.URL)
		if len(s) != 2 || s[0] != derB64(t, next) || s[1] != derB64(t, cur) {
			t.Fatal("after promotion the metadata does not lead with the new key and keep the old one")
		}
		e.REST(tok, "DELETE", "/api/v1/sso/sp-keys/previous", "").Must(t, 204)
		s, _ = spMetadataCerts(t, e.URL)
		if len(s) != 1 || s[0] != derB64(t, next) {
			t.Fatal("the retired key is still published")
		}

		// The same through GraphQL.
		d := e.MustGQL(tok, `{ spKeys { role certificate fingerprintSha256 notAfter } }`, nil)
		if str(d, "spKeys", 0, "role") != "CURRENT" || str(d, "spKeys", 0, "certificate") != next || get(d, "spKeys", 1) != nil {
			t.Fatalf("spKeys: %v", d)
		}
		d = e.MustGQL(tok, `mutation { promoteSpKey { keys { role } errors { code message } } }`, nil)
		if str(d, "promoteSpKey", "errors", 0, "code") != "INVALID_STATE" {
			t.Fatalf("promoteSpKey without a rotation: %v", d)
		}
		d = e.MustGQL(tok, `mutation { startSpKeyRotation { keys { role certificate } errors { code } } }`, nil)
		if str(d, "startSpKeyRotation", "keys", 1, "role") != "NEXT" || str(d, "startSpKeyRotation", "keys", 0, "certificate") != next {
			t.Fatalf("startSpKeyRotation: %v", d)
		}
		d = e.MustGQL(tok, `mutation { promoteSpKey { keys { role certificate } errors { code } } }`, nil)
		if str(d, "promoteSpKey", "keys", 1, "role") != "PREVIOUS" || str(d, "promoteSpKey", "keys", 1, "certificate") != next {
			t.Fatalf("promoteSpKey: %v", d)
		}
		d = e.MustGQL(tok, `mutation { retireSpKey { keys { role } errors { code } } }`, nil)
		if len(get(d, "retireSpKey", "keys").([]any)) != 1 {
			t.Fatalf("retireSpKey: %v", d)
		}

		// A workspace admin (not the platform admin) may not rotate.
		d = e.MustGQL(tok, `mutation { createWorkspace(input: {name: "Other"}) { workspace { id } } }`, nil)
		id, sec := e.CreateClient(tok, []string{"admin"}, str(d, "createWorkspace", "workspace", "id"))
		other := e.Token(id, sec)
		e.REST(other, "POST", "/api/v1/sso/sp-keys/rotate", "").MustError(t, 403, "permission_error", "platform admin")
		e.REST(other, "GET", "/api/v1/sso/sp-keys", "").MustError(t, 403, "permission_error", "platform admin")
	})
}
