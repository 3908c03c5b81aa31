package apptest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"
)

// RESTResponse is a decoded REST answer.
type RESTResponse struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

// REST sends a request as curl would with the document's headers: a bearer token, and
// Content-Type: application/json when there is a body.
func (e *Env) REST(token, method, path, body string) *RESTResponse {
	e.T.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, e.URL+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.T.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := &RESTResponse{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out.Body); err != nil {
			e.T.Fatalf("%s %s: status %d, not JSON: %q", method, path, resp.StatusCode, raw)
		}
	}
	return out
}

// Must fails the test unless the status is want.
func (r *RESTResponse) Must(t *testing.T, want int) *RESTResponse {
	t.Helper()
	if r.Status != want {
		t.Fatalf("status %d, want %d: %s", r.Status, want, r.Raw)
	}
	return r
}

// MustError checks the document's error shape, status, type and a message fragment.
func (r *RESTResponse) MustError(t *testing.T, status int, typ, fragment string) {
	t.Helper()
	if r.Status != status || Str(r.Body, "error", "type") != typ || !strings.Contains(Str(r.Body, "error", "message"), fragment) {
		t.Fatalf("got %d %s, want %d %s containing %q", r.Status, r.Raw, status, typ, fragment)
	}
}

// SAMLCert is a self-signed PEM certificate valid from from to to, as an IdP signs with.
func SAMLCert(t *testing.T, from, to time.Time) string {
	k, _ := rsa.GenerateKey(rand.Reader, 2048)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "login.microsoftonline.com"},
		NotBefore: from, NotAfter: to}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// GetPublic fetches path from the test server without a token.
func (e *Env) GetPublic(path string) (*http.Response, []byte) {
	e.T.Helper()
	resp, err := http.Get(e.URL + path)
	if err != nil {
		e.T.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}
