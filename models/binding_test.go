package models

import (
	"testing"

	"github.com/google/uuid"
)

func TestDecideBind(t *testing.T) {
	a, b := uuid.New(), uuid.New()
	for _, c := range []struct {
		owner uuid.UUID
		bound bool
		want  BindOutcome
	}{
		{uuid.Nil, false, BindNew},
		{uuid.Nil, true, BindReplace},
		{a, true, BindReplace}, // rebinding the account's own identity
		{b, false, BindTaken},
		{b, true, BindTaken},
	} {
		if got := DecideBind(c.owner, a, c.bound); got != c.want {
			t.Errorf("DecideBind(%v, a, %v) = %d, want %d", c.owner, c.bound, got, c.want)
		}
	}
}

func TestBindDecisionSQLText(t *testing.T) {
	got := BindDecisionSQL("s.owner", "u.id", "s.bound")
	want := "CASE WHEN s.owner IS NOT NULL AND s.owner <> u.id THEN 2 WHEN s.bound THEN 1 ELSE 0 END"
	if got != want {
		t.Errorf("BindDecisionSQL = %q, want %q", got, want)
	}
}
