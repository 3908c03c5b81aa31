package provision

import (
	"errors"
	"fmt"
	"testing"

	"gatehouse/models"
	"gatehouse/store"
)

// A mutation's failure reads to the caller as its stale and taken errors say; a models error
// passes through; anything else is internal, with the cause kept for the log.
func TestMutationFailure(t *testing.T) {
	m := mutation{op: "save thing", stale: changedConcurrently("thing"),
		taken: func(field string) error {
			if field == "name" {
				return models.FieldError(models.ETAKEN, "name", "x", "taken")
			}
			return nil
		}}
	stale := fmt.Errorf("wrapped: %w", store.ErrStale)
	invalid := models.FieldError(models.EINVALID, "name", "", "is required")
	other := errors.New("boom")
	for _, tc := range []struct {
		err  error
		code string
		msg  string
	}{
		{stale, models.ECONFLICT, "the thing was changed concurrently; retry"},
		{&store.ErrAlreadyExists{Field: "name"}, models.ETAKEN, "taken"},
		{&store.ErrAlreadyExists{Field: "slug"}, models.EINTERNAL, ""},
		{invalid, models.EINVALID, "is required"},
		{other, models.EINTERNAL, ""},
	} {
		got := m.failure(tc.err)
		if models.ErrorCode(got) != tc.code {
			t.Errorf("%v: code %s, want %s", tc.err, models.ErrorCode(got), tc.code)
		}
		var me *models.Error
		if tc.msg != "" && (!errors.As(got, &me) || me.Message != tc.msg) {
			t.Errorf("%v: %v, want message %q", tc.err, got, tc.msg)
		}
		if tc.code == models.EINTERNAL && !errors.Is(got, tc.err) {
			t.Errorf("%v: cause lost: %v", tc.err, got)
		}
	}
	if m.failure(nil) != nil {
		t.Error("no error became one")
	}
	if (&mutation{}).failure(stale) == nil || models.ErrorCode((&mutation{}).failure(stale)) != models.EINTERNAL {
		t.Error("ErrStale without a stale error is not internal")
	}
}
