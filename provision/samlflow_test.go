package provision

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// TestSAMLAnswerReadsEarlierAnswers: the answer AcceptSAMLAnswer keeps is the identity's JSON
// object with the warnings beside its fields, so that an answer kept by a server from before
// the warnings (a rolling upgrade, in the flow's few minutes) reads as the same identity with
// none, and an answer without warnings is what such a server kept and reads.
func TestSAMLAnswerReadsEarlierAnswers(t *testing.T) {
	id := Identity{Identifier: "00u-ada", Email: "ada@example.com", FirstName: "Ada", LastName: "Lovelace",
		Claims: map[string]any{"company": "Analytical Engines"}, AuthTime: time.Date(2026, 12, 6, 5, 0, 0, 0, time.UTC),
		ACR: "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport", AMR: []string{"pwd"}}
	earlier, _ := json.Marshal(id)
	var a samlAnswer
	if err := json.Unmarshal(earlier, &a); err != nil || !reflect.DeepEqual(a.Identity, id) || a.Warnings != nil {
		t.Fatalf("an earlier answer read as %+v (%v)", a, err)
	}
	if now, _ := json.Marshal(samlAnswer{Identity: id}); string(now) != string(earlier) {
		t.Fatalf("an answer without warnings: %s, earlier %s", now, earlier)
	}
	warned, _ := json.Marshal(samlAnswer{Identity: id, Warnings: []string{"signed with RSA-SHA1"}})
	var back Identity
	if err := json.Unmarshal(warned, &back); err != nil || !reflect.DeepEqual(back, id) {
		t.Fatalf("an answer with warnings, read as an identity: %+v (%v)", back, err)
	}
}
