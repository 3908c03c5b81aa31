package models

import (
	"reflect"
	"testing"
)

// The default role is defined once (DefaultRole); the gorm tag that must spell it as a
// literal is held to it here.
func TestDefaultRoleDefinedOnce(t *testing.T) {
	f, _ := reflect.TypeOf(UserAccount{}).FieldByName("Role")
	if got, want := f.Tag.Get("gorm"), "default:"+DefaultRole; got != want {
		t.Errorf("UserAccount.Role tag %q, want %q", got, want)
	}
	if Roles[0] != DefaultRole {
		t.Errorf("Roles = %v, want DefaultRole first", Roles)
	}
}
