package sso_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"gatehouse/app"
	"gatehouse/models"
)

// newGoogleIdP is a test IdP standing in for Google: its issuer and endpoints are
// https://accounts.google.com, as Google's are, so that Gatehouse treats its connection as
// Google's (models.Connection.IsGoogle). Its TLS server has a certificate for that host; the
// configuration mod points Gatehouse's outbound client at it (TestConnectTo, TestRootCAs), and
// browserTo gives a browser that reaches it too.
func newGoogleIdP(t *testing.T) (idp *testIdP, mod func(*app.Config), browserTo func(t *testing.T, stopAt string) *browser) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "accounts.google.com"},
		DNSNames: []string{"accounts.google.com"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)

	idp = newTestIdP(t)
	idp.srv.Close() // the plain-HTTP one; Google is reached over TLS
	idp.srv = httptest.NewUnstartedServer(http.HandlerFunc(idp.serve))
	idp.srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	idp.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	idp.srv.StartTLS()
	t.Cleanup(idp.srv.Close)
	idp.publicURL = models.GoogleIssuer

	const host = "accounts.google.com:443"
	addr := idp.srv.Listener.Addr().String()
	mod = func(c *app.Config) {
		c.TestRootCAs = pool
		c.TestConnectTo = map[string]string{host: addr}
	}
	browserTo = func(t *testing.T, stopAt string) *browser {
		b := newBrowser(t, stopAt)
		var d net.Dialer
		b.c.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool},
			DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
				if a == host {
					a = addr
				}
				return d.DialContext(ctx, network, a)
			}}
		return b
	}
	return idp, mod, browserTo
}

// Google signs in personal Google accounts too, which anyone can make with an address of
// another provider (a work address), checked once when the account was made, and which says
// email_verified: true ever after. Google vouches only for a Gmail address and the address of a
// Google Workspace account (hd). Through a stand-in for Google at https://accounts.google.com,
// on both databases: a Workspace account links to the account with its address; a personal
// account with a work address does not (its email is left out: it gets an account of its own,
// with the address derived from its identifier, marked unverified); a Gmail address is taken.
// With jitVerifiedDomainsOnly, the personal account is refused as not a Workspace account (not
// for sending no email), a Workspace account of another organisation too, and the
// organisation's own is provisioned: the hd rule end to end.
func TestSignInAtGoogle(t *testing.T) {
	idp, mod, browserTo := newGoogleIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		claimsAs := func(t *testing.T, claims map[string]any) map[string]any {
			t.Helper()
			idp.as(claims)
			r, verifier := w.signIn(t, browserTo(t, w.redirect), w.app, "connection", w.slug)
			if r.query.Get("code") == "" {
				t.Fatalf("sign-in as %v: %+v", claims, r)
			}
			got, _ := w.claimsOf(t, w.app, r.query.Get("code"), verifier)
			return got
		}
		refusal := func(t *testing.T, claims map[string]any) string {
			t.Helper()
			idp.as(claims)
			r, _ := w.signIn(t, browserTo(t, w.redirect), w.app, "connection", w.slug)
			if r.query.Get("error") != "access_denied" || r.query.Get("code") != "" {
				t.Fatalf("sign-in as %v: %+v", claims, r)
			}
			// The application (and the person) read the public reason only: the detail that
			// names the left-out email and why is the administrators'.
			if d := r.query.Get("error_description"); strings.Contains(d, "vouch") || strings.Contains(d, "hd claim") || strings.Contains(d, "identity provider's email") {
				t.Fatalf("sign-in as %v: error_description carries the private detail: %q", claims, d)
			}
			return r.query.Get("error_description")
		}

		// A Workspace account of the organisation: Google vouches for its address, which links
		// it to the account an admin made.
		ann := e.CreateUser(w.tok, "ann@"+signInDomain)
		c := claimsAs(t, map[string]any{"sub": "g-ann", "email": "ann@" + signInDomain, "email_verified": true, "hd": signInDomain})
		if c["sign_in"] != "linked_by_email" || c["sub"] != ann || c["email_verified"] != true {
			t.Fatalf("Workspace account: %v", c)
		}

		// A personal Google account made with Bob's work address links to nothing: it gets an
		// account of its own, whose address nobody vouched for.
		bob := e.CreateUser(w.tok, "bob@"+signInDomain)
		c = claimsAs(t, map[string]any{"sub": "g-bob", "email": "bob@" + signInDomain, "email_verified": true})
		if c["sign_in"] != "provisioned" || c["sub"] == bob || c["email"] != "g-bob@"+signInDomain || c["email_verified"] != false {
			t.Fatalf("personal account with a work address: %v", c)
		}
		// A Gmail address is Google's own: taken (not verified for the connection, so the
		// id_token does not say it is verified).
		c = claimsAs(t, map[string]any{"sub": "g-cy", "email": "cy@gmail.com", "email_verified": true})
		if c["sign_in"] != "provisioned" || c["email"] != "cy@gmail.com" {
			t.Fatalf("Gmail account: %v", c)
		}

		// Restricted to the verified domains.
		if r := e.REST(w.tok, "PUT", "/api/v1/sso/connections/"+w.conn, `{"jitVerifiedDomainsOnly": true}`).Must(t, 200); get(r.Body, "connection", "jitVerifiedDomainsOnly") != true {
			t.Fatalf("REST PUT: %s", r.Raw)
		}
		if d := refusal(t, map[string]any{"sub": "g-dee", "email": "dee@" + signInDomain, "email_verified": true}); !strings.Contains(d, "only for your organization's Google Workspace accounts") {
			t.Fatalf("personal account, restricted: %q", d)
		}
		if d := refusal(t, map[string]any{"sub": "g-eve", "email": "eve@" + signInDomain, "email_verified": true, "hd": "other.test"}); !strings.Contains(d, "only for your organization's Google Workspace accounts") {
			t.Fatalf("another organisation's Workspace account, restricted: %q", d)
		}
		ev := e.MustGQL(w.tok, `query($c: ID!) { signInEvents(connectionId: $c, outcome: REFUSED) { events { identifier cause } } }`, map[string]any{"c": w.conn})
		causes := map[string]string{}
		evs, _ := get(ev, "signInEvents", "events").([]any)
		for _, v := range evs {
			causes[str(v, "identifier")] = str(v, "cause")
		}
		if !strings.Contains(causes["g-dee"], "Google sent no hd claim") || !strings.Contains(causes["g-dee"], "; the identity provider's email is one Google does not vouch for") ||
			!strings.Contains(causes["g-eve"], "(hd) other.test is not verified") || strings.Contains(causes["g-eve"], "vouch") {
			t.Fatalf("the refusals' events: %v", ev)
		}
		c = claimsAs(t, map[string]any{"sub": "g-fay", "email": "fay@" + signInDomain, "email_verified": true, "hd": signInDomain})
		if c["sign_in"] != "provisioned" || c["email"] != "fay@"+signInDomain || c["email_verified"] != true {
			t.Fatalf("Workspace account, restricted: %v", c)
		}
		// Those bound already keep signing in.
		if c = claimsAs(t, map[string]any{"sub": "g-bob", "email": "bob@" + signInDomain, "email_verified": true}); c["sign_in"] != "existing_identity" {
			t.Fatalf("bound personal account: %v", c)
		}
		// An id_token that carries the whole identity (names too) signs a bound person in
		// without userinfo (Identity.ClaimsPartial): the rule holds there too, so the profile
		// refresh does not move the account Gatehouse owns to an unused address on a verified
		// domain that Google does not vouch for.
		calls := func() (n int) { idp.set(func(p *testIdP) { n = p.userinfoCalls }); return n }
		before := calls()
		c = claimsAs(t, map[string]any{"sub": "g-bob", "email": "bobby@" + signInDomain, "email_verified": true,
			"given_name": "Bob", "family_name": "Personal"})
		if c["sign_in"] != "existing_identity" || c["email"] != "g-bob@"+signInDomain || c["email_verified"] != false || c["given_name"] != "Bob" {
			t.Fatalf("bound personal account, id_token only: %v", c)
		}
		if n := calls() - before; n != 0 {
			t.Fatalf("bound personal account, id_token only: %d userinfo calls, want none (the fast path)", n)
		}

		// A test sign-in says why the identity has no email although Google sent one.
		for _, c := range []struct {
			claims map[string]any
			want   string
		}{
			{map[string]any{"sub": "g-t1", "email": "t1@" + signInDomain, "email_verified": true}, "email is one Google does not vouch for"},
			{map[string]any{"sub": "g-t2", "email": "t2@" + signInDomain, "email_verified": false, "hd": signInDomain}, "email is marked unverified"},
			{map[string]any{"sub": "g-t3", "email": "not-an-address", "email_verified": true, "hd": signInDomain}, `email "not-an-address" is not a valid address`},
			{map[string]any{"sub": "g-t4", "email": "t4@" + signInDomain, "email_verified": true, "hd": signInDomain}, ""},
		} {
			idp.as(c.claims)
			id, u := startTest(t, e, w.tok, w.conn, `{"brandId": "`+w.brand+`"}`)
			page := browserTo(t, w.redirect).get(t, u)
			rest := e.REST(w.tok, "GET", "/api/v1/sso/connections/"+w.conn+"/test-sign-in/"+id, "").Must(t, 200)
			gql := e.MustGQL(w.tok, `query($c: ID!, $i: ID!) { testSignIn(connectionId: $c, id: $i) { warnings } }`, map[string]any{"c": w.conn, "i": id})
			ws, _ := get(rest.Body, "warnings").([]any)
			gws, _ := get(gql, "testSignIn", "warnings").([]any)
			if str(rest.Body, "status") != "succeeded" || len(gws) != len(ws) {
				t.Fatalf("test sign-in as %v: %s %v", c.claims, rest.Raw, gql)
			}
			if c.want == "" {
				if len(ws) != 0 || str(rest.Body, "identity", "email") != "t4@"+signInDomain {
					t.Fatalf("test sign-in with a usable email: %s", rest.Raw)
				}
				continue
			}
			if len(ws) != 1 || !strings.Contains(ws[0].(string), c.want) || ws[0] != gws[0] || str(rest.Body, "identity", "email") != "" ||
				!strings.Contains(page.body, "Gatehouse does not use it") {
				t.Fatalf("test sign-in as %v: want a warning with %q: %s\n%s", c.claims, c.want, rest.Raw, page.body)
			}
		}
	}, mod)
}
