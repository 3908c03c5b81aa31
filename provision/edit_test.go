package provision

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"gatehouse/models"
)

// TestEditSeesChangesWrittenThrough: edit tells a change written through a map, slice or
// pointer field from no change (a shallow copy of the row would share what they refer to, take
// such a change for none, and the write would be skipped and lost), and a change to the
// values a row has already for none, time fields included.
func TestEditSeesChangesWrittenThrough(t *testing.T) {
	type row struct {
		Name    string
		Claims  map[string]any
		URIs    []string
		Secret  []byte
		Owner   *string
		Updated time.Time
		Loaded  []string `gorm:"-"`
	}
	owner := "idp"
	fresh := func() *row {
		return &row{Name: "a", Claims: map[string]any{"k": "v", "list": []any{"x"}}, URIs: make([]string, 1, 4),
			Secret: []byte{1, 2}, Owner: &owner, Updated: time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)}
	}
	for _, c := range []struct {
		name   string
		change func(*row)
		want   bool
	}{
		{"nothing", func(*row) {}, false},
		{"the same values", func(r *row) { r.Name, r.URIs = "a", []string{""}; r.Updated = r.Updated.In(time.UTC) }, false},
		{"a field that is not stored", func(r *row) { r.Loaded = []string{"x"} }, false},
		{"a map key", func(r *row) { r.Claims["k"] = "w" }, true},
		{"a nested slice", func(r *row) { r.Claims["list"].([]any)[0] = "y" }, true},
		{"a slice element", func(r *row) { r.URIs[0] = "https://x" }, true},
		{"a byte", func(r *row) { r.Secret[0] = 9 }, true},
		{"through a pointer", func(r *row) { *r.Owner = "scim" }, true},
		{"an append in place", func(r *row) { r.URIs = append(r.URIs[:1], "b") }, true},
	} {
		owner = "idp"
		r := fresh()
		changed, _, err := edit(r, func(r *row) error { c.change(r); return nil })
		if err != nil || changed != c.want {
			t.Errorf("%s: changed %v (%v), want %v", c.name, changed, err, c.want)
		}
	}
	// A models row as the writes use it.
	u := &models.UserAccount{FirstName: "Ada"}
	if changed, _, _ := edit(u, func(u *models.UserAccount) error { u.FirstName = "Ada"; return nil }); changed {
		t.Error("a user account given its own first name changed")
	}
}

// TestEditedRowsNameEveryField: every stored field of a row type an update edits has an api
// tag, the API name an update's audit event lists it by when it changes ("changed"), or api:"-"
// for a field that is no admin's setting. A new stored field without one fails here instead of
// being listed by its Go name.
func TestEditedRowsNameEveryField(t *testing.T) {
	for _, row := range []any{models.Connection{}, models.Brand{}, models.Application{},
		models.IdentityProviderConfiguration{}, models.Account{}, models.Company{}, models.Group{},
		models.UserAccount{}} {
		rt := reflect.TypeOf(row)
		for i := range rt.NumField() {
			f := rt.Field(i)
			if !f.IsExported() || f.Tag.Get("gorm") == "-" {
				continue
			}
			if name, ok := f.Tag.Lookup("api"); !ok || name == "" {
				t.Errorf("%s.%s is stored but has no api tag (its API name, or api:\"-\" when internal)", rt.Name(), f.Name)
			}
		}
	}
}

// TestChangedFieldsNamesSettings: changedFields lists what changed by API name, sorted, never
// an internal field, and a stored field without a tag by its Go name.
func TestChangedFieldsNamesSettings(t *testing.T) {
	type row struct {
		Version int    `api:"-"`
		B       string `api:"oidcConfig.issuerUrl"`
		A       string `api:"name"`
		Untag   string
		Loaded  string `gorm:"-" api:"loaded"`
	}
	got := changedFields(reflect.ValueOf(row{}), reflect.ValueOf(row{Version: 2, B: "x", A: "y", Untag: "z", Loaded: "l"}))
	if want := []string{"Untag", "name", "oidcConfig.issuerUrl"}; !slices.Equal(got, want) {
		t.Errorf("changedFields = %v, want %v", got, want)
	}
	if got := changedFields(reflect.ValueOf(row{}), reflect.ValueOf(row{Version: 2})); got == nil || len(got) != 0 {
		t.Errorf("only an internal field changed: changedFields = %#v, want []", got)
	}
}
