package sso

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	_ "crypto/sha1" // the hashes RSA-OAEP may name (oaepDigests, oaepMasks)
	_ "crypto/sha256"
	_ "crypto/sha512"
	"crypto/x509"
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
//     has the 128-bit key only, and slices the nonce off unchecked;
//   - RSA-OAEP key transport is Gatehouse's own (oaepDecrypter), both of XML Encryption's: crewjam
//     registers xmlenc#rsa-oaep-mgf1p only, knows none of the spec's digest URIs beyond SHA-1
//     (it names SHA-256 xmldsig#sha256, which no spec defines), and masks with the digest's hash
//     where rsa-oaep-mgf1p fixes MGF1 with SHA-1; it has no xmlenc11#rsa-oaep, whose digest and
//     MGF are each named. So an IdP that digests the key with SHA-256 named as the spec names
//     it (xmlenc#sha256: node-xml-encryption 5, under auth0/node-samlp IdPs), or transports
//     it with XML Encryption 1.1's RSA-OAEP (ITfoxtec 4.20, ComponentSpace), was refused while
//     the docs promise RSA-OAEP.

// dataOnly runs a block cipher's decrypter on an EncryptedData only, never on an
// EncryptedKey: the key of an encrypted assertion is transported by RSA-OAEP, to the SP's key,
// and by nothing else. xmlenc decrypts an EncryptedKey by its own EncryptionMethod, and a
// block cipher's decrypter first decrypts the EncryptedKey in its KeyInfo: so an EncryptedKey
// named AES-CBC, whose key is in turn an RSA-OAEP EncryptedKey (of a response someone saw: the
// IdP's wrapped session key), has the SP decrypt blocks of anyone's choosing under that key and
// check their padding, the oracle of the attacks on XML Encryption's CBC mode (Jager and
// Somorovsky, 2011). crewjam/saml v0.6 refuses such a key too; its registry is this one.
type dataOnly struct{ xmlenc.Decrypter }

func (d dataOnly) Decrypt(key any, el *etree.Element) ([]byte, error) {
	if el.Tag == "EncryptedKey" {
		return nil, fmt.Errorf("an EncryptedKey is encrypted with %s: the key of an encrypted assertion is transported by RSA-OAEP only", d.Algorithm())
	}
	return d.Decrypter.Decrypt(key, el)
}

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
		xmlenc.RegisterDecrypter(dataOnly{checkedCiphertext{Decrypter: cbc, min: 2 * aes.BlockSize, block: aes.BlockSize}})
	}
	for _, g := range []gcmDecrypter{{"aes128-gcm", 16}, {"aes192-gcm", 24}, {"aes256-gcm", 32}} {
		xmlenc.RegisterDecrypter(dataOnly{g})
	}
	xmlenc.RegisterDecrypter(oaepDecrypter{algorithm: keyTransportOAEPMGF1P, mgf1p: true})
	xmlenc.RegisterDecrypter(oaepDecrypter{algorithm: keyTransportOAEP11})
}

// The RSA-OAEP key transports of XML Encryption 1.0 (§5.4.2: MGF1 with SHA-1, whatever the
// digest) and 1.1 (§5.5.2: the digest and the MGF each named, SHA-1 by default).
const (
	keyTransportOAEPMGF1P = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"
	keyTransportOAEP11    = "http://www.w3.org/2009/xmlenc11#rsa-oaep"
)

// oaepDigests are the DigestMethods of an RSA-OAEP EncryptionMethod: XML Encryption's (1.1
// §5.2), and the two xmldsig URIs crewjam's xmlenc (and node-xml-encryption before 5.0) write
// for SHA-256 and SHA-512, which the ACS read before and still reads.
var oaepDigests = map[string]crypto.Hash{
	"http://www.w3.org/2000/09/xmldsig#sha1":        crypto.SHA1,
	"http://www.w3.org/2001/04/xmlenc#sha256":       crypto.SHA256,
	"http://www.w3.org/2001/04/xmldsig-more#sha384": crypto.SHA384,
	"http://www.w3.org/2001/04/xmlenc#sha512":       crypto.SHA512,
	"http://www.w3.org/2000/09/xmldsig#sha256":      crypto.SHA256,
	"http://www.w3.org/2000/09/xmldsig#sha512":      crypto.SHA512,
}

// oaepMasks are the MGF algorithms of xmlenc11#rsa-oaep (XML Encryption 1.1 §5.5.2).
var oaepMasks = map[string]crypto.Hash{
	"http://www.w3.org/2009/xmlenc11#mgf1sha1":   crypto.SHA1,
	"http://www.w3.org/2009/xmlenc11#mgf1sha224": crypto.SHA224,
	"http://www.w3.org/2009/xmlenc11#mgf1sha256": crypto.SHA256,
	"http://www.w3.org/2009/xmlenc11#mgf1sha384": crypto.SHA384,
	"http://www.w3.org/2009/xmlenc11#mgf1sha512": crypto.SHA512,
}

// oaepDecrypter unwraps an EncryptedKey transported with RSA-OAEP, with the digest, the MGF
// and the OAEPparams label its EncryptionMethod names. For rsa-oaep-mgf1p with a digest other
// than SHA-1 it tries MGF1 with SHA-1, as the spec fixes it, then MGF1 with the digest's hash,
// as crewjam's xmlenc and node-xml-encryption up to 5.0 encrypt: every failure reads the same
// to the sender (the ACS answers each alike), so the second try tells it nothing more.
type oaepDecrypter struct {
	algorithm string
	mgf1p     bool
}

func (o oaepDecrypter) Algorithm() string { return o.algorithm }

func (o oaepDecrypter) Decrypt(key any, el *etree.Element) ([]byte, error) {
	rsaKey, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("expected key to be a *rsa.PrivateKey")
	}
	// As crewjam's: a certificate named in the KeyInfo must be the key's (another SP key is
	// then tried: parseResponse, decryptPlaintext).
	if c := el.FindElement("./KeyInfo/X509Data/X509Certificate"); c != nil {
		der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(c.Text()), ""))
		if err != nil {
			return nil, fmt.Errorf("the EncryptedKey's certificate: %w", err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("the EncryptedKey's certificate: %w", err)
		}
		if pub, ok := cert.PublicKey.(*rsa.PublicKey); !ok || !rsaKey.PublicKey.Equal(pub) {
			return nil, errors.New("certificate does not match provided key")
		}
	}
	method := el.FindElement("./EncryptionMethod")
	opts := rsa.OAEPOptions{Hash: crypto.SHA1, MGFHash: crypto.SHA1}
	if dm := method.FindElement("./DigestMethod"); dm != nil {
		alg := dm.SelectAttrValue("Algorithm", "")
		h, ok := oaepDigests[alg]
		if !ok {
			return nil, xmlenc.ErrAlgorithmNotImplemented(alg)
		}
		opts.Hash = h
	}
	if m := method.FindElement("./MGF"); m != nil && !o.mgf1p {
		alg := m.SelectAttrValue("Algorithm", "")
		h, ok := oaepMasks[alg]
		if !ok {
			return nil, xmlenc.ErrAlgorithmNotImplemented(alg)
		}
		opts.MGFHash = h
	}
	if p := method.FindElement("./OAEPparams"); p != nil {
		label, err := base64.StdEncoding.DecodeString(strings.TrimSpace(p.Text()))
		if err != nil {
			return nil, fmt.Errorf("OAEPparams: %w", err)
		}
		opts.Label = label
	}
	ct, err := cipherValue(el)
	if err != nil {
		return nil, err
	}
	plaintext, err := rsaKey.Decrypt(rand.Reader, ct, &opts)
	if err != nil && o.mgf1p && opts.Hash != crypto.SHA1 {
		opts.MGFHash = opts.Hash
		plaintext, err = rsaKey.Decrypt(rand.Reader, ct, &opts)
	}
	return plaintext, err
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
