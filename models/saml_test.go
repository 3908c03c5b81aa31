package models

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"
)

func testCertPEM(t *testing.T, serial int64) string {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "idp"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// TestParseSAMLCertificates: the certificate text of a SAML connection as admins paste it
// (Entra's Base64 .cer files end lines with CRLF), and what is refused.
func TestParseSAMLCertificates(t *testing.T) {
	a, b := testCertPEM(t, 1), testCertPEM(t, 2)
	crlf := strings.ReplaceAll(a, "\n", "\r\n")
	for _, c := range []struct {
		name, text string
		want       int
		err        string
	}{
		{"one", a, 1, ""},
		{"one with CRLF line ends and blank lines around", "\r\n\r\n" + crlf + "\r\n", 1, ""},
		{"two", a + b, 2, ""},
		{"two separated by blank lines", a + "\n\n  \n" + b, 2, ""},
		{"four", a + b + a + b, 4, ""},
		{"five", a + b + a + b + a, 0, "must hold at most 4 certificates"},
		{"empty", "  \n", 0, "must be a PEM-encoded X.509 certificate"},
		{"base64 without PEM armour", strings.Join(strings.Split(a, "\n")[1:3], ""), 0, "must be a PEM-encoded X.509 certificate"},
		{"an abbreviation", "-----BEGIN CERTIFICATE-----\nMIIC...\n-----END CERTIFICATE-----", 0, "must be a PEM-encoded X.509 certificate"},
		{"words before", "our cert:\n" + a, 0, "must be a PEM-encoded X.509 certificate"},
		{"words after", a + "thanks", 0, "has text after certificate 1"},
		{"a key after", a + "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n", 0, `has a "RSA PRIVATE KEY" as block 2`},
		{"DER that is not a certificate", a + "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", 0, "has a block 2 that is not a parseable X.509 certificate"},
	} {
		t.Run(c.name, func(t *testing.T) {
			certs, err := ParseSAMLCertificates(c.text)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want %q", err, c.err)
				}
				return
			}
			if err != nil || len(certs) != c.want {
				t.Fatalf("%d certificates, %v; want %d", len(certs), err, c.want)
			}
		})
	}
}
