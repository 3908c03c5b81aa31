package scim_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sync"
	"testing"
)

// withoutMeta returns a SCIM user document without what every change moves (meta.version,
// meta.lastModified), as canonical JSON.
func withoutMeta(t *testing.T, body map[string]any) string {
	t.Helper()
	var c map[string]any
	b, _ := json.Marshal(body)
	_ = json.Unmarshal(b, &c)
	if m, ok := c["meta"].(map[string]any); ok {
		delete(m, "version")
		delete(m, "lastModified")
	}
	out, _ := json.Marshal(c)
	return string(out)
}

// TestSCIMDeactivation: a PATCH whose only effect is to set active (Okta's and Entra's
// deactivation, in each form they send) is applied in one write without reading the user
// first. Its answer, stored state, version and activity row are those of the general PATCH
// path, which a no-op userName replace forces here for comparison.
func TestSCIMDeactivation(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		admin := e.AdminToken()
		tok, _ := e.SCIMToken(admin, allScopes("idp"))
		rich := e.SCIMUser(tok, map[string]any{"userName": "Rich.User@example.com", "externalId": "00u1", "title": "Boss",
			"name":         map[string]any{"givenName": "Rich", "familyName": "User", "formatted": "Rich User"},
			"emails":       []any{map[string]any{"value": "rich@example.com", "type": "home", "primary": true}, map[string]any{"value": "r@work.example", "type": "work"}},
			"phoneNumbers": []any{map[string]any{"value": "+15550001", "type": "mobile"}},
			"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": map[string]any{"department": "Ops", "manager": map[string]any{"value": "m-1"}}})
		e.Call("POST", "/scim/v2/Groups", tok, map[string]any{"displayName": "Staff", "members": []any{map[string]any{"value": rich}}}).Must(t, 201)
		graphql := e.CreateUser(admin, "made.in.graphql@example.com")

		forms := []string{
			`{"Operations":[{"op":"replace","value":{"active":false}}]}`,        // Okta
			`{"Operations":[{"op":"Replace","path":"active","value":"False"}]}`, // Entra
			`{"Operations":[{"op":"replace","value":{"urn:ietf:params:scim:schemas:core:2.0:User:active":false}}]}`,
			`{"Operations":[{"op":"add","path":"active","value":true},{"op":"replace","path":"active","value":false}]}`,
		}
		for _, id := range []string{rich, graphql} {
			before := e.Call("GET", "/scim/v2/Users/"+id, tok, nil).Must(t, 200)
			userName := str(before.Body, "userName")
			general := func(active bool) *apiResponse {
				return e.Call("PATCH", "/scim/v2/Users/"+id, tok, fmt.Sprintf(`{"Operations":[{"op":"replace","path":"userName","value":%q},{"op":"replace","path":"active","value":%v}]}`,
					userName, active)).Must(t, 200)
			}
			wantInactive := general(false).Body
			wantActive := general(true).Body
			for _, form := range forms {
				r := e.Call("PATCH", "/scim/v2/Users/"+id, tok, form).Must(t, 200)
				if withoutMeta(t, r.Body) != withoutMeta(t, wantInactive) {
					t.Fatalf("%s on %s:\n got %s\nwant %s", form, userName, withoutMeta(t, r.Body), withoutMeta(t, wantInactive))
				}
				if got := e.Call("GET", "/scim/v2/Users/"+id, tok, nil).Must(t, 200); !reflect.DeepEqual(got.Body, r.Body) || got.Header.Get("ETag") != r.Header.Get("ETag") {
					t.Fatalf("%s: the answer is not what is stored:\n%s\n%s", form, r.Raw, got.Raw)
				}
				back := e.Call("PATCH", "/scim/v2/Users/"+id, tok, `{"Operations":[{"op":"replace","path":"active","value":true}]}`).Must(t, 200)
				if withoutMeta(t, back.Body) != withoutMeta(t, wantActive) {
					t.Fatalf("reactivation of %s:\n got %s\nwant %s", userName, withoutMeta(t, back.Body), withoutMeta(t, wantActive))
				}
			}
			// Two general PATCHes and two per form, one version each.
			r := e.Call("GET", "/scim/v2/Users/"+id, tok, nil).Must(t, 200)
			v0 := 0
			fmt.Sscanf(str(before.Body, "meta", "version"), `W/"%d"`, &v0)
			if want := fmt.Sprintf(`W/"%d"`, v0+2+2*len(forms)); str(r.Body, "meta", "version") != want {
				t.Fatalf("version %s, want %s", str(r.Body, "meta", "version"), want)
			}
			// The activity row is the general path's: method, operations and userName.
			a := e.Call("GET", "/api/v1/scim/activities?operation=update&pageSize=1", admin, nil).Must(t, 200)
			if d := get(a.Body, "activities", 0, "details").(map[string]any); d["method"] != "PATCH" || d["userName"] != userName ||
				fmt.Sprint(d["operations"]) != "[replace active]" || str(a.Body, "activities", 0, "resourceId") != id {
				t.Fatalf("activity: %s", a.Raw)
			}
		}
		if r := e.Call("GET", "/api/v1/scim/statistics", admin, nil).Must(t, 200); r.Body["lastSyncAt"] == nil || r.Body["errorCount24h"] != 0.0 {
			t.Fatalf("statistics: %s", r.Raw)
		}

		// Beside active, a remove is no deactivation: it is applied too.
		r0 := e.Call("PATCH", "/scim/v2/Users/"+rich, tok, `{"Operations":[{"op":"remove","path":"title"},
			{"op":"remove","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"},{"op":"replace","path":"active","value":false}]}`).Must(t, 200)
		if r0.Body["title"] != nil || r0.Body["active"] != false || get(r0.Body, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", "department") != nil {
			t.Fatalf("remove with active: %s", r0.Raw)
		}

		// If-Match: the current version changes it (a reactivation: rich is inactive, and a
		// deactivation would change nothing, keeping the version), an older one answers 412 and
		// changes nothing.
		r := e.Call("GET", "/scim/v2/Users/"+rich, tok, nil).Must(t, 200)
		tag := r.Header.Get("ETag")
		e.Call("PATCH", "/scim/v2/Users/"+rich, tok, `{"Operations":[{"op":"replace","path":"active","value":true}]}`, "If-Match", tag).Must(t, 200)
		e.Call("PATCH", "/scim/v2/Users/"+rich, tok, forms[0], "If-Match", tag).Must(t, 412)
		if r := e.Call("GET", "/scim/v2/Users/"+rich, tok, nil).Must(t, 200); r.Header.Get("ETag") == tag || r.Body["active"] != true {
			t.Fatalf("after If-Match: %s", r.Raw)
		}
		// Unknown users: 404, as the general path answers.
		e.Call("PATCH", "/scim/v2/Users/0190c7e5-0000-7000-8000-000000000000", tok, forms[0]).Must(t, 404)
		e.Call("PATCH", "/scim/v2/Users/not-an-id", tok, forms[0]).Must(t, 404)
		// excludedAttributes=groups leaves the groups out.
		if r := e.Call("PATCH", "/scim/v2/Users/"+rich+"?excludedAttributes=groups", tok, forms[1]).Must(t, 200); r.Body["groups"] != nil {
			t.Fatalf("groups excluded: %s", r.Raw)
		}

		// An account without a userName is the general path's to refuse.
		var n []int
		if err := e.App.Store().RawScan(context.Background(), &n, "UPDATE user_accounts SET user_name = '', user_name_key = '' WHERE id = ? RETURNING 1", graphql); err != nil || len(n) != 1 {
			t.Fatalf("clear userName: %v %v", n, err)
		}
		if r := e.Call("PATCH", "/scim/v2/Users/"+graphql, tok, forms[0]); r.Status != 400 || str(r.Body, "scimType") != "invalidValue" {
			t.Fatalf("deactivating a user without userName: %d %s", r.Status, r.Raw)
		}

		// Concurrent deactivations and reactivations of one user (inactive now): each that
		// changes it is one version; one that finds it as it asks changes nothing. So the
		// version moves by 1 (a reactivation comes first) to k, never more.
		before := e.Call("GET", "/scim/v2/Users/"+rich, tok, nil).Must(t, 200)
		v0 := 0
		fmt.Sscanf(str(before.Body, "meta", "version"), `W/"%d"`, &v0)
		const k = 20
		var wg sync.WaitGroup
		statuses := make([]int, k)
		steps := []string{forms[0], `{"Operations":[{"op":"replace","path":"active","value":true}]}`}
		for i := 0; i < k; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				statuses[i] = e.Call("PATCH", "/scim/v2/Users/"+rich, tok, steps[i%2]).Status
			}(i)
		}
		wg.Wait()
		for i, st := range statuses {
			if st != 200 {
				t.Fatalf("concurrent PATCH %d: %d", i, st)
			}
		}
		r = e.Call("GET", "/scim/v2/Users/"+rich, tok, nil).Must(t, 200)
		v := 0
		fmt.Sscanf(str(r.Body, "meta", "version"), `W/"%d"`, &v)
		if v < v0+1 || v > v0+k {
			t.Fatalf("version after %d concurrent PATCHes: %s (from %d)", k, str(r.Body, "meta", "version"), v0)
		}
	})
}
