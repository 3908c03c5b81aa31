package sso

import (
	"crypto/aes"
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
//   - AES-CBC and AES-GCM check the ciphertext's length first: crewjam's decrypters slice and
//     decrypt it unchecked, and panic on one too short, or (CBC) not a whole number of blocks.

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
	// Read as xmlenc reads it (getCiphertext); a missing or malformed value is xmlenc's to refuse.
	if v := el.FindElement("./CipherData/CipherValue"); v != nil {
		if ct, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v.Text())); err == nil &&
			(len(ct) < c.min || c.block > 0 && len(ct)%c.block != 0) {
			return nil, fmt.Errorf("%s ciphertext of %d bytes is too short or not whole blocks", c.Algorithm(), len(ct))
		}
	}
	return c.Decrypter.Decrypt(key, el)
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
	// The 96-bit nonce, then the 128-bit tag at least.
	xmlenc.RegisterDecrypter(checkedCiphertext{Decrypter: xmlenc.AES128GCM, min: 12 + 16})
}
