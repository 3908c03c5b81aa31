package secret

import (
	"bytes"
	"strings"
	"testing"
)

// A rotation: values sealed with the old key open once it is a previous key, Reseal moves
// them to the new key (and leaves those already there as they are), and once resealed they
// open with the new key alone.
func TestBoxRotation(t *testing.T) {
	oldKey, newKey := NewKey(), NewKey()
	oldBox, err := NewBox(oldKey)
	if err != nil {
		t.Fatal(err)
	}
	sealed := oldBox.Seal([]byte("idp client secret"))

	newOnly, _ := NewBox(newKey)
	if _, err := newOnly.Open(sealed); err == nil || !strings.Contains(err.Error(), "wrong GATEHOUSE_ENCRYPTION_KEY") {
		t.Fatalf("the new key alone opened a value of the old one: %v", err)
	}
	rotating, err := NewBox(newKey, NewKey(), oldKey) // any order of previous keys
	if err != nil {
		t.Fatal(err)
	}
	if plain, err := rotating.Open(sealed); err != nil || string(plain) != "idp client secret" {
		t.Fatalf("open with a previous key: %q %v", plain, err)
	}
	resealed, changed, err := rotating.Reseal(sealed)
	if err != nil || !changed || bytes.Equal(resealed, sealed) {
		t.Fatalf("reseal of an old value: changed %v, %v", changed, err)
	}
	if plain, err := newOnly.Open(resealed); err != nil || string(plain) != "idp client secret" {
		t.Fatalf("the new key alone after the reseal: %q %v", plain, err)
	}
	if again, changed, err := rotating.Reseal(resealed); err != nil || changed || !bytes.Equal(again, resealed) {
		t.Fatalf("reseal of a current value: changed %v, %v", changed, err)
	}
	stranger, _ := NewBox(NewKey())
	if _, changed, err := rotating.Reseal(stranger.Seal([]byte("x"))); err == nil || changed ||
		!strings.Contains(err.Error(), "nor any of GATEHOUSE_PREVIOUS_ENCRYPTION_KEYS") {
		t.Fatalf("reseal of a value no key opens: changed %v, %v", changed, err)
	}
	if _, err := NewBox(newKey, "not a key"); err == nil {
		t.Fatal("a malformed previous key was accepted")
	}
}

// A key's id is the same for the same key, differs between keys, and is not the key.
func TestBoxKeyID(t *testing.T) {
	k1, k2 := NewKey(), NewKey()
	a, _ := NewBox(k1)
	b, _ := NewBox(" "+k1+"\n", k2)
	c, _ := NewBox(k2, k1)
	if a.KeyID() != b.KeyID() || a.KeyID() == c.KeyID() || len(a.KeyID()) != 8 || strings.Contains(k1, a.KeyID()) {
		t.Fatalf("ids %q %q %q", a.KeyID(), b.KeyID(), c.KeyID())
	}
	if ids := c.PreviousKeyIDs(); len(ids) != 1 || ids[0] != a.KeyID() || len(a.PreviousKeyIDs()) != 0 {
		t.Fatalf("previous ids %v %v", ids, a.PreviousKeyIDs())
	}
}
