// Command dev-idp is a stand-in identity provider for trying browser sign-in on one machine
// (docs/sign-in.md, "Trying it on one machine"): an OpenID Connect provider that signs in
// whoever types an email address, with no password, and a DNS server that answers the TXT
// records published to it, so that Gatehouse verifies a domain as it does in production.
// It is for a walk-through on loopback only: it checks no password and accepts any redirect URI.
//
//	go run ./examples/dev-idp
//
// The provider's issuer is http://127.0.0.1:9000 (ADDR=127.0.0.1:<port> moves it), its client
// ID dev-client and its secret dev-secret (CLIENT_ID, CLIENT_SECRET); the DNS server listens on
// UDP 127.0.0.1:5354 (DNS_ADDR), the address to give Gatehouse as GATEHOUSE_DNS_SERVER.
// Publish a record with
//
//	curl -d 'gatehouse-verify=…' http://127.0.0.1:9000/txt/_gatehouse-verify.contoso.com
//
// The id_token and userinfo carry sub (stable for an email address), email, email_verified,
// preferred_username (the email), given_name, family_name and company, as typed on its page.
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"html/template"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/miekg/dns"
)

func main() {
	addr, dnsAddr := getenv("ADDR", "127.0.0.1:9000"), getenv("DNS_ADDR", "127.0.0.1:5354")
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	p := &provider{issuer: "http://" + addr, client: getenv("CLIENT_ID", "dev-client"), secret: getenv("CLIENT_SECRET", "dev-secret"),
		key: key, grants: map[string]grant{}, tokens: map[string]map[string]any{}, txt: map[string][]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.discovery)
	mux.HandleFunc("GET /jwks", p.jwks)
	mux.HandleFunc("GET /authorize", p.authorize)
	mux.HandleFunc("POST /authorize", p.approve)
	mux.HandleFunc("POST /token", p.token)
	mux.HandleFunc("GET /userinfo", p.userinfo)
	mux.HandleFunc("POST /txt/{name}", p.publish)
	mux.HandleFunc("PUT /txt/{name}", p.publish)
	dnsServer := &dns.Server{Addr: dnsAddr, Net: "udp", Handler: dns.HandlerFunc(p.answer)}
	go func() { log.Fatalf("dns on %s: %v", dnsAddr, dnsServer.ListenAndServe()) }()
	log.Printf("issuer %s (client ID %s, secret %s); DNS server %s (GATEHOUSE_DNS_SERVER)", p.issuer, p.client, p.secret, dnsAddr)
	log.Fatal(http.ListenAndServe(addr, addressedTo(addr, mux)))
}

// addressedTo serves only requests addressed to addr (or localhost at its port): a web page
// that reaches the stand-in under a name of its own (DNS rebinding) gets nothing from it,
// neither a sign-in nor a published TXT record.
func addressedTo(addr string, next http.Handler) http.Handler {
	_, port, _ := net.SplitHostPort(addr)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Host != addr && r.Host != "localhost:"+port {
			http.Error(w, "dev-idp: requests must be addressed to "+addr, http.StatusMisdirectedRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}

type provider struct {
	issuer, client, secret string
	key                    *ecdsa.PrivateKey
	mu                     sync.Mutex
	grants                 map[string]grant          // by code
	tokens                 map[string]map[string]any // userinfo claims by access token
	txt                    map[string][]string       // TXT records by lower-case name with the trailing dot
}

// maxEntries bounds each of the stand-in's maps (codes, tokens, TXT names): it keeps everything
// in memory, and a trial needs a handful.
const maxEntries = 10000

type grant struct {
	claims    map[string]any
	challenge string
	redirect  string
	expires   time.Time
}

func (p *provider) discovery(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"issuer": p.issuer, "authorization_endpoint": p.issuer + "/authorize",
		"token_endpoint": p.issuer + "/token", "userinfo_endpoint": p.issuer + "/userinfo", "jwks_uri": p.issuer + "/jwks",
		"response_types_supported": []string{"code"}, "subject_types_supported": []string{"public"},
		"id_token_signing_alg_values_supported": []string{"ES256"}, "code_challenge_methods_supported": []string{"S256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
		"scopes_supported":                      []string{"openid", "email", "profile"}})
}

func (p *provider) jwks(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &p.key.PublicKey, KeyID: "dev", Algorithm: "ES256", Use: "sig"}}})
}

var page = template.Must(template.New("").Parse(`<!doctype html><title>Development IdP</title>
<h1>Development IdP</h1><p>Signs in whoever you type, with no password. For trying Gatehouse on one machine only.</p>
<form method="post" action="/authorize">{{range $k, $v := .Hidden}}<input type="hidden" name="{{$k}}" value="{{$v}}">{{end}}
<p><label>Email <input type="email" name="email" value="{{.Email}}" required autofocus></label></p>
<p><label>First name <input name="given_name"></label> <label>Last name <input name="family_name"></label></p>
<p><label>Company <input name="company"></label></p>
<button>Sign in</button></form>`))

// authorize shows the page on which the person says who they are (the email Gatehouse sent as
// login_hint, filled in), or answers login_required to prompt=none.
func (p *provider) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != p.client || q.Get("response_type") != "code" || q.Get("redirect_uri") == "" {
		http.Error(w, "dev-idp: unknown client_id "+q.Get("client_id")+" (this IdP's is "+p.client+"), or no response_type=code or redirect_uri", http.StatusBadRequest)
		return
	}
	if slices.Contains(strings.Fields(q.Get("prompt")), "none") {
		// It keeps no sessions, so it cannot sign anyone in without its page (OIDC Core §3.1.2.6).
		back, err := url.Parse(q.Get("redirect_uri"))
		if err != nil {
			http.Error(w, "dev-idp: bad redirect_uri", http.StatusBadRequest)
			return
		}
		v := back.Query()
		v.Set("error", "login_required")
		v.Set("iss", p.issuer)
		if s := q.Get("state"); s != "" {
			v.Set("state", s)
		}
		back.RawQuery = v.Encode()
		http.Redirect(w, r, back.String(), http.StatusFound)
		return
	}
	hidden := map[string]string{}
	for _, k := range []string{"redirect_uri", "state", "nonce", "code_challenge"} {
		hidden[k] = q.Get(k)
	}
	page.Execute(w, map[string]any{"Hidden": hidden, "Email": q.Get("login_hint")})
}

// approve signs the person in as typed and sends the browser back with a code.
func (p *provider) approve(w http.ResponseWriter, r *http.Request) {
	email := strings.ToLower(strings.TrimSpace(r.PostFormValue("email")))
	redirect, err := url.Parse(r.PostFormValue("redirect_uri"))
	if email == "" || err != nil || !redirect.IsAbs() {
		http.Error(w, "dev-idp: an email and an absolute redirect_uri are required", http.StatusBadRequest)
		return
	}
	sum := sha256.Sum256([]byte(email))
	claims := map[string]any{"sub": "dev-" + hex.EncodeToString(sum[:8]), "email": email, "email_verified": true,
		"preferred_username": email}
	for _, k := range []string{"given_name", "family_name", "company"} {
		if v := strings.TrimSpace(r.PostFormValue(k)); v != "" {
			claims[k] = v
		}
	}
	if n := r.PostFormValue("nonce"); n != "" {
		claims["nonce"] = n
	}
	code := rand.Text()
	p.mu.Lock()
	if len(p.grants) >= maxEntries { // codes nobody redeemed: a trial needs a handful
		clear(p.grants)
	}
	p.grants[code] = grant{claims: claims, challenge: r.PostFormValue("code_challenge"), redirect: redirect.String(), expires: time.Now().Add(time.Minute)}
	p.mu.Unlock()
	v := redirect.Query()
	v.Set("code", code)
	v.Set("iss", p.issuer)
	if s := r.PostFormValue("state"); s != "" {
		v.Set("state", s)
	}
	redirect.RawQuery = v.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusSeeOther)
}

// token redeems a code once, for the client's credentials (HTTP Basic or the form), the same
// redirect_uri and the PKCE verifier, as a real IdP does.
func (p *provider) token(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if ok {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = r.PostFormValue("client_id"), r.PostFormValue("client_secret")
	}
	if id != p.client || subtle.ConstantTimeCompare([]byte(secret), []byte(p.secret)) != 1 {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client", "error_description": "wrong client ID or secret"})
		return
	}
	p.mu.Lock()
	g, ok := p.grants[r.PostFormValue("code")]
	delete(p.grants, r.PostFormValue("code"))
	p.mu.Unlock()
	sum := sha256.Sum256([]byte(r.PostFormValue("code_verifier")))
	switch {
	case !ok || time.Now().After(g.expires) || g.redirect != r.PostFormValue("redirect_uri"):
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant"})
		return
	case g.challenge != "" && base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "PKCE verifier"})
		return
	}
	now := time.Now()
	idClaims := map[string]any{"iss": p.issuer, "aud": p.client, "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "auth_time": now.Unix()}
	for k, v := range g.claims {
		idClaims[k] = v
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: p.key, KeyID: "dev"}}, nil)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	idToken, err := jwt.Signed(signer).Claims(idClaims).Serialize()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	access := rand.Text()
	p.mu.Lock()
	if len(p.tokens) >= maxEntries {
		clear(p.tokens)
	}
	p.tokens[access] = g.claims
	p.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"access_token": access, "token_type": "Bearer", "expires_in": 300, "id_token": idToken})
}

func (p *provider) userinfo(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	claims, ok := p.tokens[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
	p.mu.Unlock()
	if !ok {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token"})
		return
	}
	writeJSON(w, http.StatusOK, claims)
}

// publish adds a TXT record (the request body) at a name, as a domain's owner publishes the
// proof Gatehouse asks for.
func (p *provider) publish(w http.ResponseWriter, r *http.Request) {
	// A web page the developer opens could post a form here (same host, so addressedTo lets
	// it through) and publish a TXT record of its choosing: curl sends neither header, a
	// browser's cross-origin request sends both.
	if r.Header.Get("Origin") != "" || r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		http.Error(w, "dev-idp: TXT records are published with curl, not from a web page", http.StatusForbidden)
		return
	}
	value, _ := io.ReadAll(io.LimitReader(r.Body, 4096))
	name := dns.Fqdn(strings.ToLower(r.PathValue("name")))
	p.mu.Lock()
	if len(p.txt) >= maxEntries || len(p.txt[name]) >= 16 {
		p.mu.Unlock()
		http.Error(w, "dev-idp: too many TXT records", http.StatusInsufficientStorage)
		return
	}
	p.txt[name] = append(p.txt[name], strings.TrimSpace(string(value)))
	p.mu.Unlock()
	log.Printf("TXT %s %q", name, strings.TrimSpace(string(value)))
	w.WriteHeader(http.StatusNoContent)
}

func (p *provider) answer(w dns.ResponseWriter, q *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(q)
	for _, question := range q.Question {
		p.mu.Lock()
		values, ok := p.txt[strings.ToLower(question.Name)]
		p.mu.Unlock()
		if !ok {
			m.Rcode = dns.RcodeNameError
		}
		if question.Qtype != dns.TypeTXT {
			continue
		}
		for _, v := range values {
			m.Answer = append(m.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: question.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60}, Txt: []string{v}})
		}
	}
	w.WriteMsg(m)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func getenv(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
