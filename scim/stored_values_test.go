package scim_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// A value stored before a rule refused it (here a department holding a bidirectional control,
// written directly, as an older release or another surface could have) does not block the
// user's updates: a PATCH or a PUT is checked for the values it changes only. Before, the
// whole user was checked again, so the IdP's PATCH of the title failed with 400 and the user
// stayed stuck at the IdP. A changed value is still checked.
func TestSCIMUpdateChecksOnlyWhatItChanges(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		admin := e.AdminToken()
		tok, _ := e.SCIMToken(admin, allScopes("idp"))
		ent := "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
		id := e.SCIMUser(tok, map[string]any{"userName": "old@example.com", "name": map[string]any{"givenName": "Old", "familyName": "Row"},
			"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User", ent}, ent: map[string]any{"department": "Sales"}})
		const stored = "Sales\u202e"
		// As a release before the rule would have stored it: in the column and in the document.
		ctx, uid := context.Background(), uuid.MustParse(id)
		var data []string
		if err := e.App.Store().RawScan(ctx, &data, "SELECT scim_data FROM user_accounts WHERE id = ?", uid); err != nil || len(data) != 1 {
			t.Fatal(data, err)
		}
		var n []int
		if err := e.App.Store().RawScan(ctx, &n, "UPDATE user_accounts SET department = ?, scim_data = ? WHERE id = ?",
			stored, strings.Replace(data[0], `"Sales"`, `"Sales\u202e"`, 1), uid); err != nil {
			t.Fatal(err)
		}
		patch := func(ops string) *apiResponse {
			return e.Call("PATCH", "/scim/v2/Users/"+id, tok, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":`+ops+`}`)
		}
		u := patch(`[{"op":"replace","path":"title","value":"Lead"}]`).Must(t, 200).Body
		if u["title"] != "Lead" || str(u, ent, "department") != stored {
			t.Fatalf("a PATCH of the title beside a stored department the rules refuse now: %v", u)
		}
		// A PUT of the user as it reads, with one value changed.
		u["displayName"] = "Old Row"
		body, _ := json.Marshal(u)
		if u = e.Call("PUT", "/scim/v2/Users/"+id, tok, string(body)).Must(t, 200).Body; u["displayName"] != "Old Row" || str(u, ent, "department") != stored {
			t.Fatalf("a PUT of the user as it reads: %v", u)
		}
		// A changed value is checked: a department with another bidirectional control is refused.
		if r := patch(`[{"op":"replace","path":"` + ent + `:department","value":"Ops\u202e"}]`); r.Status != 400 {
			t.Fatalf("a PATCH storing a value the rules refuse: %d %s", r.Status, r.Raw)
		}
	})
}

// TestSCIMGroupEmptyExternalIDIsNone: a group's empty externalId is none, as a user's is
// (models.ExternalIDOf): a POST or a PUT with "" stores none (NULL), so that the group's row
// is the same whatever an IdP sends for an unset attribute, and a PUT that sends "" again
// changes nothing. Before, POST and PUT stored "" (PATCH did not).
func TestSCIMGroupEmptyExternalIDIsNone(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		tok, _ := e.SCIMToken(e.AdminToken(), allScopes("idp"))
		// stored is the group's external_id column, "NULL" for none.
		stored := func(id string) string {
			t.Helper()
			var ext []string
			if err := e.App.Store().RawScan(context.Background(), &ext, "SELECT COALESCE(external_id, 'NULL') FROM groups WHERE id = ?",
				uuid.MustParse(id)); err != nil || len(ext) != 1 {
				t.Fatal(ext, err)
			}
			return ext[0]
		}
		id := str(e.Call("POST", "/scim/v2/Groups", tok, map[string]any{"displayName": "Sales", "externalId": ""}).Must(t, 201).Body, "id")
		if ext := stored(id); ext != "NULL" {
			t.Fatalf("POST with externalId \"\" stored %q", ext)
		}
		e.Call("PUT", "/scim/v2/Groups/"+id, tok, map[string]any{"displayName": "Sales", "externalId": "g-1"}).Must(t, 200)
		r := e.Call("PUT", "/scim/v2/Groups/"+id, tok, map[string]any{"displayName": "Sales", "externalId": ""}).Must(t, 200)
		if ext := stored(id); ext != "NULL" || r.Body["externalId"] != nil {
			t.Fatalf("PUT with externalId \"\": stored %q, answered %v", ext, r.Body["externalId"])
		}
		version := str(r.Body, "meta", "version")
		again := e.Call("PUT", "/scim/v2/Groups/"+id, tok, map[string]any{"displayName": "Sales", "externalId": ""}).Must(t, 200)
		if v := str(again.Body, "meta", "version"); v != version {
			t.Fatalf("the same PUT again moved the version %s → %s", version, v)
		}
	})
}
