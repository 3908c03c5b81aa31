// Package secret generates, hashes and encrypts secrets: random tokens, fast hashes for
// high-entropy values (client secrets, SCIM tokens), password hashes for human-chosen ones,
// and AES-GCM encryption for values the server must read back. It never logs anything.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// Token returns prefix followed by n random bytes in unpadded base64url.
func Token(prefix string, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// Hash is a fast, unsalted SHA-256 of a high-entropy secret, hex encoded. Such secrets cannot
// be guessed, so a slow hash would only cost throughput.
func Hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// Equal compares a secret with a stored Hash in constant time.
func Equal(plain, hash string) bool {
	h := Hash(plain)
	return subtle.ConstantTimeCompare([]byte(h), []byte(hash)) == 1
}

// HashPassword hashes a human-chosen secret with bcrypt.
func HashPassword(p string) (string, error) {
	if len(p) > 72 {
		// bcrypt reads 72 bytes at most; pre-hash so that longer secrets are not truncated.
		p = Hash(p)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(p), bcrypt.DefaultCost)
	if err != nil {
		return "", fmt.Errorf("secret: %w", err)
	}
	return string(h), nil
}

// CheckPassword reports whether p matches a HashPassword result.
func CheckPassword(p, hash string) bool {
	if len(p) > 72 {
		p = Hash(p)
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(p)) == nil
}

// Box encrypts and decrypts values at rest with AES-256-GCM: it seals with the current key
// and opens with it or, during a key rotation, with one of the previous keys.
type Box struct {
	current  cipher.AEAD
	previous []cipher.AEAD
	// ids are the keys' KeyIDs, the current one first.
	ids []string
	// keyFrom says where the current key came from, for the message of a value it does not
	// open ("" : GATEHOUSE_ENCRYPTION_KEY).
	keyFrom string
}

// FromKeyFile notes that the current key was read from the key file at path (SQLite's
// generated key), which the message of a value it does not open then names. It returns b.
func (b *Box) FromKeyFile(path string) *Box {
	b.keyFrom = path
	return b
}

// KeySize is the length of the encryption key in bytes.
const KeySize = 32

// NewBox builds a Box from keys given as standard base64 of 32 bytes each: the current one,
// and the previous ones of a rotation, which only open.
func NewBox(b64key string, previous ...string) (*Box, error) {
	current, id, err := newAEAD(b64key)
	if err != nil {
		return nil, err
	}
	b := &Box{current: current, ids: []string{id}}
	for _, k := range previous {
		aead, id, err := newAEAD(k)
		if err != nil {
			return nil, err
		}
		b.previous = append(b.previous, aead)
		b.ids = append(b.ids, id)
	}
	return b, nil
}

func newAEAD(b64key string) (cipher.AEAD, string, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64key))
	if err != nil || len(key) != KeySize {
		return nil, "", errors.New("secret: the encryption key must be 32 random bytes in standard base64")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, "", fmt.Errorf("secret: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, "", fmt.Errorf("secret: %w", err)
	}
	return aead, keyID(key), nil
}

// keyID names a key without revealing it: the first 4 bytes of an HMAC-SHA256 under the key
// of a fixed label, in hex. Operators compare it across servers, the reencrypt report and the
// audit log to see which key each uses; 32 bits tell a handful of keys apart, and say nothing
// of a 256-bit key.
func keyID(key []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("gatehouse encryption key id"))
	return hex.EncodeToString(m.Sum(nil)[:4])
}

// KeyID is the current key's id (keyID).
func (b *Box) KeyID() string { return b.ids[0] }

// PreviousKeyIDs are the previous keys' ids, in the order given.
func (b *Box) PreviousKeyIDs() []string { return slices.Clone(b.ids[1:]) }

// NewKey returns a fresh encryption key in the form NewBox takes.
func NewKey() string {
	b := make([]byte, KeySize)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// Seal encrypts plain with the current key; the nonce is prepended to the result.
func (b *Box) Seal(plain []byte) []byte {
	nonce := make([]byte, b.current.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(err)
	}
	return b.current.Seal(nonce, nonce, plain, nil)
}

// Open decrypts a Seal result, with the current key or a previous one.
func (b *Box) Open(sealed []byte) ([]byte, error) {
	plain, _, err := b.open(sealed)
	return plain, err
}

// Reseal returns sealed as the current key seals it: unchanged (changed false) when the
// current key opens it, else opened with a previous key and sealed again.
func (b *Box) Reseal(sealed []byte) (out []byte, changed bool, err error) {
	plain, current, err := b.open(sealed)
	if err != nil || current {
		return sealed, false, err
	}
	return b.Seal(plain), true, nil
}

// open decrypts sealed and says whether the current key did. Every key's AEAD has the same
// nonce size (AES-GCM's 12 bytes).
func (b *Box) open(sealed []byte) (plain []byte, current bool, err error) {
	n := b.current.NonceSize()
	if len(sealed) < n {
		return nil, false, errors.New("secret: ciphertext too short")
	}
	if plain, err := b.current.Open(nil, sealed[:n], sealed[n:], nil); err == nil {
		return plain, true, nil
	}
	for _, aead := range b.previous {
		if plain, err := aead.Open(nil, sealed[:n], sealed[n:], nil); err == nil {
			return plain, false, nil
		}
	}
	key := "GATEHOUSE_ENCRYPTION_KEY"
	if b.keyFrom != "" {
		key = "the key file " + b.keyFrom
	}
	if len(b.previous) > 0 {
		return nil, false, errors.New("secret: cannot decrypt with " + key + " nor any of GATEHOUSE_PREVIOUS_ENCRYPTION_KEYS")
	}
	if b.keyFrom != "" {
		return nil, false, errors.New("secret: cannot decrypt with the key file " + b.keyFrom +
			" (not the one made with this database? a backup is the database and its key file)")
	}
	return nil, false, errors.New("secret: cannot decrypt (wrong GATEHOUSE_ENCRYPTION_KEY?)")
}
