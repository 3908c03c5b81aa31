package store

import (
	"strings"
	"testing"

	"gatehouse/models"
)

// The role columns' database defaults (migrations 1 and 4, released and never edited) are
// models.DefaultRole.
func TestRoleColumnDefaults(t *testing.T) {
	for _, v := range []int{1, 4} {
		for _, m := range migrations {
			if m.version == v && !strings.Contains(m.sql, "DEFAULT '"+models.DefaultRole+"'") {
				t.Errorf("migration %d: role column default is not %q", v, models.DefaultRole)
			}
		}
	}
}
