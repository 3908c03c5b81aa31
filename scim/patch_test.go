package scim

import (
	"encoding/json"
	"testing"

	"gatehouse/models"
)

// testParsers parses as a handler does, with caches of its own.
var testParsers = newParsers(nil)

func sampleUser() doc {
	d := doc{}
	_ = json.Unmarshal([]byte(`{"userName":"bjensen","active":true,"name":{"givenName":"Barbara","familyName":"Jensen"},
		"emails":[{"value":"b@example.com","type":"work","primary":true},{"value":"b@home.example","type":"home"}],
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Tour","manager":{"value":"m1"}}}`), &d)
	return d
}

// FuzzPatchPath: any op, path and value either applies or fails with a SCIM-typed error;
// nothing panics, and the result still converts to a user input.
func FuzzPatchPath(f *testing.F) {
	for _, s := range []struct{ op, path, value string }{
		{"replace", `emails[type eq "work"].value`, `"x@example.com"`},
		{"Add", `emails[type eq "other"].value`, `"o@example.com"`},
		{"remove", `emails[type eq "home"]`, ``},
		{"replace", `name.givenName`, `"B"`},
		{"Replace", `active`, `"False"`},
		{"add", `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager`, `"m2"`},
		{"replace", `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value`, `""`},
		{"replace", ``, `{"name.familyName":"J","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department":"X","id":"1"}`},
		{"remove", `members[value eq "1"]`, ``},
		{"add", `phoneNumbers`, `[{"value":"1","type":"work","primary":"true"}]`},
		{"replace", `emails[not (type eq "work")].display`, `"d"`},
		{"remove", `addresses[type eq "work"].locality`, ``},
	} {
		f.Add(s.op, s.path, s.value)
	}
	f.Fuzz(func(t *testing.T, op, path, value string) {
		d := sampleUser()
		ops := []patchOp{{Op: op, Path: path, Value: json.RawMessage(value)}}
		if value != "" && !json.Valid([]byte(value)) {
			ops[0].Value = nil
		}
		if err := testParsers.patchDoc(d, ops); err != nil {
			if models.SCIMTypeOf(err) == "" {
				t.Fatalf("op %q path %q value %q: untyped error %v", op, path, value, err)
			}
			return
		}
		if _, err := userInput(d, true); err != nil && models.SCIMTypeOf(err) == "" {
			t.Fatalf("userInput: %v", err)
		}
		if _, err := json.Marshal(d); err != nil {
			t.Fatalf("result not encodable: %v", err)
		}
	})
}

// FuzzGroupPatch: member operations fold into one change or fail with a typed error.
func FuzzGroupPatch(f *testing.F) {
	f.Add("Remove", "members", `[{"value":"a"}]`)
	f.Add("remove", `members[value eq "a"]`, ``)
	f.Add("replace", ``, `{"id":"g","displayName":"x"}`)
	f.Add("add", "members", `{"value":"b"}`)
	f.Fuzz(func(t *testing.T, op, path, value string) {
		o := patchOp{Op: op, Path: path}
		if json.Valid([]byte(value)) {
			o.Value = json.RawMessage(value)
		}
		if _, err := testParsers.groupChange([]patchOp{o}); err != nil && models.SCIMTypeOf(err) == "" {
			t.Fatalf("untyped error %v", err)
		}
	})
}

func TestPatchForms(t *testing.T) {
	for _, c := range []struct {
		name, ops string
		check     func(d doc) bool
	}{
		{"filtered add creates the element", `[{"op":"Add","path":"emails[type eq \"other\"].value","value":"o@x.example"}]`,
			func(d doc) bool { return len(d["emails"].([]any)) == 3 }},
		{"filtered replace", `[{"op":"replace","path":"emails[type eq \"home\"].value","value":"h@x.example"}]`,
			func(d doc) bool { return d["emails"].([]any)[1].(doc)["value"] == "h@x.example" }},
		{"remove by filter", `[{"op":"remove","path":"emails[value eq \"B@HOME.example\"]"}]`,
			func(d doc) bool { return len(d["emails"].([]any)) == 1 }},
		{"new primary wins", `[{"op":"add","path":"emails","value":[{"value":"n@x.example","primary":"True"}]}]`,
			func(d doc) bool { return d["emails"].([]any)[0].(doc)["primary"] == false }},
		{"path-less URN object", `[{"op":"replace","value":{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Ops"}}}]`,
			func(d doc) bool {
				ext := d[URNEnterprise].(doc)
				return ext["department"] == "Ops" && ext["manager"] != nil
			}},
		{"attribute names ignore case", `[{"op":"REPLACE","path":"NAME.GIVENNAME","value":"Babs"}]`,
			func(d doc) bool { return d["name"].(doc)["givenName"] == "Babs" }},
	} {
		d := sampleUser()
		var ops []patchOp
		if err := json.Unmarshal([]byte(c.ops), &ops); err != nil {
			t.Fatal(err)
		}
		if err := testParsers.patchDoc(d, ops); err != nil || !c.check(d) {
			t.Errorf("%s: %v %v", c.name, err, d)
		}
	}
}

// Microsoft's SCIM tutorial (Example 5) shows Entra adding the enterprise manager at the bare
// path "manager", as a one-element array with $ref and value.
func TestPatchManagerBarePath(t *testing.T) {
	for _, c := range []struct {
		name, ops, want string
	}{
		{"tutorial example 5", `[{"op":"Add","path":"manager","value":[{"$ref":"http://.../scim/Users/00aa","value":"00aa"}]}]`, "00aa"},
		{"object", `[{"op":"replace","path":"manager","value":{"value":"m3"}}]`, "m3"},
		{"sub-attribute", `[{"op":"replace","path":"manager.value","value":"m4"}]`, "m4"},
		{"path-less key", `[{"op":"replace","value":{"manager":"m5"}}]`, "m5"},
		{"other enterprise attribute", `[{"op":"replace","path":"department","value":"Ops"}]`, "m1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := sampleUser()
			var ops []patchOp
			if err := json.Unmarshal([]byte(c.ops), &ops); err != nil {
				t.Fatal(err)
			}
			if err := testParsers.patchDoc(d, ops); err != nil {
				t.Fatal(err)
			}
			ext := d[URNEnterprise].(doc)
			if got := ext["manager"].(doc)["value"]; got != c.want {
				t.Errorf("manager.value = %v, want %s", got, c.want)
			}
			if _, ok := d["manager"]; ok {
				t.Error("manager was also set on the core User")
			}
		})
	}
	// Core attributes still win: a bare path that both schemas lack is still unknown, and a
	// list of two managers is no manager.
	for _, ops := range []string{
		`[{"op":"add","path":"nosuch","value":"x"}]`,
		`[{"op":"add","path":"manager","value":[{"value":"a"},{"value":"b"}]}]`,
	} {
		var o []patchOp
		_ = json.Unmarshal([]byte(ops), &o)
		if err := testParsers.patchDoc(sampleUser(), o); err == nil {
			t.Errorf("%s: applied, want an error", ops)
		}
	}
	d := sampleUser()
	if err := testParsers.patchDoc(d, []patchOp{{Op: "replace", Path: "department", Value: json.RawMessage(`"Ops"`)}}); err != nil {
		t.Fatal(err)
	}
	if got := d[URNEnterprise].(doc)["department"]; got != "Ops" {
		t.Errorf("department = %v, want Ops", got)
	}
}

// TestActiveOnly: the PATCHes whose only effect is to set active, in the forms Okta and Entra
// send, take the one-write path; anything that could touch another attribute, or leave active
// as it was, does not.
func TestActiveOnly(t *testing.T) {
	for _, c := range []struct {
		ops          string
		active, fast bool
	}{
		{`[{"op":"replace","value":{"active":false}}]`, false, true},
		{`[{"op":"Replace","path":"active","value":"False"}]`, false, true},
		{`[{"op":"replace","path":"active","value":false}]`, false, true},
		{`[{"op":"add","path":"active","value":true}]`, true, true},
		{`[{"op":"replace","value":{"urn:ietf:params:scim:schemas:core:2.0:User:active":"true"}}]`, true, true},
		{`[{"op":"replace","value":{"id":"x","active":false}}]`, false, true}, // id is ignored, as on any user
		{`[{"op":"replace","path":"active","value":true},{"op":"replace","path":"active","value":false}]`, false, true},
		{`[{"op":"replace","value":{}}]`, false, false}, // no effect: active stays what it was
		{`[{"op":"remove","path":"active"}]`, false, false},
		{`[{"op":"replace","value":{"active":false,"displayName":"x"}}]`, false, false},
		{`[{"op":"replace","path":"displayName","value":"x"}]`, false, false},
		{`[{"op":"replace","path":"active","value":false},{"op":"add","path":"emails[type eq \"work\"].value","value":"a@b.c"}]`, false, false},
		{`[{"op":"replace","path":"active","value":"maybe"}]`, false, false},
		{`[{"op":"replace","path":"userName","value":"x"},{"op":"replace","path":"active","value":false}]`, false, false},
		{`[]`, false, false},
		// Operations that do nothing to a document holding only active, but change a real user.
		{`[{"op":"remove","path":"displayName"},{"op":"replace","path":"active","value":false}]`, false, false},
		{`[{"op":"remove","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"},{"op":"replace","path":"active","value":false}]`, false, false},
		{`[{"op":"remove","path":"manager"},{"op":"replace","path":"active","value":false}]`, false, false},
		{`[{"op":"replace","path":"name","value":null},{"op":"replace","path":"active","value":false}]`, false, false},
		{`[{"op":"replace","path":"phoneNumbers","value":[]},{"op":"replace","path":"active","value":false}]`, false, false},
		{`[{"op":"replace","value":{"active":false,"displayName":null}}]`, false, false},
		{`[{"op":"replace","value":{"active":false,"emails":[]}}]`, false, false},
		{`[{"op":"remove","path":"userName"},{"op":"replace","path":"active","value":false}]`, false, false},
		{`[{"op":"replace","path":"active","value":null}]`, false, false},
		{`[{"op":"replace","path":"urn:ietf:params:scim:schemas:core:2.0:User","value":{"active":false}}]`, false, true},
		{`[{"op":"replace","path":"urn:ietf:params:scim:schemas:core:2.0:User:active","value":false}]`, false, true},
	} {
		var ops []patchOp
		if err := json.Unmarshal([]byte(c.ops), &ops); err != nil {
			t.Fatal(err)
		}
		active, fast := testParsers.activeOnly(ops)
		if fast != c.fast || (fast && active != c.active) {
			t.Errorf("%s: activeOnly = %v, %v; want %v, %v", c.ops, active, fast, c.active, c.fast)
		}
	}
}
