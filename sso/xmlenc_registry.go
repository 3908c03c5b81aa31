package sso

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/beevik/etree"
	"github.com/crewjam/saml/xmlenc"
)

// What crewjam's xmlenc may decrypt, in the whole process. xmlenc picks a decrypter from a
// registry by the document's Algorithm attribute, for Gatehouse's own decryption
// (decryptElement) as for crewjam's (ParseXMLResponse, for what checkResponse leaves to it).
// The documents are anyone's: the SP's encryption certificate is public, and the ACS decrypts
// before any signature is checked. So the registry is narrowed here, once, at start:
//
//   - RSA PKCS#1 v1.5 key transport is refused: its padding check is an oracle (Bleichenbacher)
//     on the SP key, which also signs (decryptElement refuses it first, with the same cause);
//   - Triple DES is refused: a 64-bit block cipher no IdP needs, and one more mode to attack;
//   - AES-CBC checks the ciphertext's length first: crewjam's decrypter decrypts it unchecked,
//     and panics on one too short or not a whole number of blocks;
//   - AES-GCM is Gatehouse's own (gcmDecrypter), for the 128-, 192- and 256-bit keys: crewjam's
//     has the 128-bit key only, and slices the nonce off unchecked.

// refusedAlgorithm takes the place of an xmlenc decrypter that must never run.
type refusedAlgorithm struct {
	algorithm string
	err       error
}

func (r refusedAlgorithm) Algorithm() string { return r.algorithm }

func (r refusedAlgorithm) Decrypt(any, *etree.Element) ([]byte, error) { return nil, r.err }

// checkedCiphertext runs an xmlenc decrypter only on a ciphertext of at least min bytes, and a
// whole number of blocks when block is set.
type checkedCiphertext struct {
	xmlenc.Decrypter
	min, block int
}

func (c checkedCiphertext) Decrypt(key any, el *etree.Element) ([]byte, error) {
	// A missing or malformed value is xmlenc's to refuse.
	if ct, err := cipherValue(el); err == nil && (len(ct) < c.min || c.block > 0 && len(ct)%c.block != 0) {
		return nil, fmt.Errorf("%s ciphertext of %d bytes is too short or not whole blocks", c.Algorithm(), len(ct))
	}
	return c.Decrypter.Decrypt(key, el)
}

// cipherValue reads an EncryptedData's or EncryptedKey's ciphertext as xmlenc reads it
// (getCiphertext).
func cipherValue(el *etree.Element) ([]byte, error) {
	v := el.FindElement("./CipherData/CipherValue")
	if v == nil {
		return nil, errors.New("cannot find CipherData element containing a CipherValue element")
	}
	return base64.StdEncoding.DecodeString(strings.TrimSpace(v.Text()))
}

// errTripleDES refuses Triple DES.
var errTripleDES = errors.New("the assertion is encrypted with Triple DES (xmlenc#tripledes-cbc), which is refused: set the IdP's encryption algorithm to AES")

func init() {
	xmlenc.RegisterDecrypter(refusedAlgorithm{keyTransportPKCS1v15, errPKCS1v15})
	xmlenc.RegisterDecrypter(refusedAlgorithm{"http://www.w3.org/2001/04/xmlenc#tripledes-cbc", errTripleDES})
	for _, cbc := range []xmlenc.BlockCipher{xmlenc.AES128CBC, xmlenc.AES192CBC, xmlenc.AES256CBC} {
		// The IV, then at least one block.
		xmlenc.RegisterDecrypter(checkedCiphertext{Decrypter: cbc, min: 2 * aes.BlockSize, block: aes.BlockSize})
	}
	for _, g := range []gcmDecrypter{{"aes128-gcm", 16}, {"aes192-gcm", 24}, {"aes256-gcm", 32}} {
		xmlenc.RegisterDecrypter(g)
	}
}

// gcmDecrypter is XML Encryption 1.1's AES-GCM (§5.2.4): the CipherValue is the 96-bit nonce,
// then the ciphertext and its 128-bit tag, with no padding and no additional data; the key is
// an EncryptedKey's in the KeyInfo (decrypted by the registry: RSA-OAEP), or the one given.
type gcmDecrypter struct {
	name    string // the algorithm's fragment in the xmlenc11 namespace
	keySize int
}

func (g gcmDecrypter) Algorithm() string { return "http://www.w3.org/2009/xmlenc11#" + g.name }

func (g gcmDecrypter) Decrypt(key any, el *etree.Element) ([]byte, error) {
	if ek := el.FindElement("./KeyInfo/EncryptedKey"); ek != nil {
		k, err := xmlenc.Decrypt(key, ek)
		if err != nil {
			return nil, err
		}
		key = k
	}
	k, ok := key.([]byte)
	if !ok || len(k) != g.keySize {
		return nil, fmt.Errorf("%s needs a %d-byte key", g.name, g.keySize)
	}
	ct, err := cipherValue(el)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	if len(ct) < aead.NonceSize()+aead.Overhead() {
		return nil, fmt.Errorf("%s ciphertext of %d bytes is too short", g.name, len(ct))
	}
	return aead.Open(nil, ct[:aead.NonceSize()], ct[aead.NonceSize():], nil)
}
