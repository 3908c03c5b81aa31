// Package secret generates, hashes and encrypts secrets: random tokens, fast hashes for
// high-entropy values (client secrets, SCIM tokens), password hashes for human-chosen ones,
// and AES-GCM encryption for values the server must read back. It never logs anything.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
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

// Box encrypts and decrypts values at rest with AES-256-GCM.
type Box struct{ aead cipher.AEAD }

// KeySize is the length of the encryption key in bytes.
const KeySize = 32

// NewBox builds a Box from a key given as standard base64 of 32 bytes.
func NewBox(b64key string) (*Box, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64key))
	if err != nil || len(key) != KeySize {
		return nil, errors.New("secret: the encryption key must be 32 random bytes in standard base64")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	return &Box{aead: aead}, nil
}

// NewKey returns a fresh encryption key in the form NewBox takes.
func NewKey() string {
	b := make([]byte, KeySize)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// Seal encrypts plain; the nonce is prepended to the result.
func (b *Box) Seal(plain []byte) []byte {
	nonce := make([]byte, b.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(err)
	}
	return b.aead.Seal(nonce, nonce, plain, nil)
}

// Open decrypts a Seal result.
func (b *Box) Open(sealed []byte) ([]byte, error) {
	n := b.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("secret: ciphertext too short")
	}
	plain, err := b.aead.Open(nil, sealed[:n], sealed[n:], nil)
	if err != nil {
		return nil, errors.New("secret: cannot decrypt (wrong GATEHOUSE_ENCRYPTION_KEY?)")
	}
	return plain, nil
}
