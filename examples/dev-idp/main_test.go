package main

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"gatehouse/app"
	"gatehouse/app/apptest"
	"gatehouse/store/storetest"
)

// TestDevIdPWalkThrough runs the stand-in IdP as docs/sign-in.md ("Trying it on one machine")
// tells people to, built from its source and configured by its environment variables, and
// follows the guide's steps against it: a connection to it, a domain verified by the TXT record
// published to its DNS server, a passed connection test (which sees its client
// authentication), activation, and a first sign-in through its page in a browser.
func TestDevIdPWalkThrough(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the example")
	}
	bin := filepath.Join(t.TempDir(), "dev-idp")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build ./examples/dev-idp: %v\n%s", err, out)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", storetest.FreePort(t))
	dnsAddr := fmt.Sprintf("127.0.0.1:%d", storetest.FreePort(t))
	issuer := "http://" + addr
	logs := &apptest.Logs{}
	ctx, stop := context.WithCancel(context.Background())
	idp := exec.CommandContext(ctx, bin)
	idp.Env = append(os.Environ(), "ADDR="+addr, "DNS_ADDR="+dnsAddr)
	idp.Stdout, idp.Stderr = logs, logs
	if err := idp.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { idp.Wait(); close(exited) }()
	t.Cleanup(func() { stop(); <-exited })
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp, err := http.Get(issuer + "/.well-known/openid-configuration")
		if err == nil {
			resp.Body.Close()
			break
		}
		select {
		case <-exited:
			t.Fatalf("the IdP exited: %s", logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the IdP does not answer at %s: %v\n%s", issuer, err, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}

	// A request addressed to another name (a web page's, by DNS rebinding) gets nothing:
	// neither a TXT record published nor a sign-in page.
	for _, path := range []string{"/txt/_gatehouse-verify.contoso.com", "/authorize"} {
		req, _ := http.NewRequest("POST", issuer+path, strings.NewReader("x"))
		req.Host = "rebound.example:" + strings.Split(addr, ":")[1]
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMisdirectedRequest {
			t.Fatalf("%s addressed to another host: %d", path, resp.StatusCode)
		}
	}

	// A form posted by a web page in the developer's browser publishes nothing.
	for _, h := range [][2]string{{"Origin", "https://evil.example"}, {"Origin", "null"}, {"Sec-Fetch-Site", "cross-site"}} {
		req, _ := http.NewRequest("POST", issuer+"/txt/_gatehouse-verify.contoso.com", strings.NewReader("planted"))
		req.Header.Set("Content-Type", "text/plain")
		req.Header.Set(h[0], h[1])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("a TXT record posted with %s: %s: %d", h[0], h[1], resp.StatusCode)
		}
	}

	// Gatehouse with GATEHOUSE_ALLOW_PRIVATE_NETWORKS=true (apptest's default) and
	// GATEHOUSE_DNS_SERVER naming the IdP's DNS server.
	e := apptest.New(t, "sqlite:"+filepath.Join(t.TempDir(), "g.db"), func(c *app.Config) { c.DNSServer = dnsAddr })
	tok := e.AdminToken()
	oidcConfig := map[string]any{"issuerUrl": issuer, "clientId": "dev-client", "clientSecret": "dev-secret",
		"identifierClaim": "preferred_username", "ownCallback": true}
	conn := e.Call("POST", "/api/v1/sso/connections", tok, map[string]any{"name": "Contoso", "protocol": "oidc", "oidcConfig": oidcConfig}).Must(t, 201)
	id := apptest.Str(conn.Body, "connection", "id")
	dom := e.Call("POST", "/api/v1/sso/connections/"+id+"/domains", tok, map[string]any{"domain": "contoso.com", "verificationMethod": "dns-txt"}).Must(t, 201)
	name, value := apptest.Str(dom.Body, "dnsRecord", "name"), apptest.Str(dom.Body, "dnsRecord", "value")
	resp, err := http.Post(issuer+"/txt/"+name, "text/plain", strings.NewReader(value)) // curl -d "$value" $issuer/txt/$name
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("publish the TXT record: %v %v", resp, err)
	}
	resp.Body.Close()
	v := e.Call("PUT", "/api/v1/sso/connections/"+id+"/domains/"+apptest.Str(dom.Body, "domain", "id")+"/verify", tok, nil).Must(t, 200)
	if v.Body["success"] != true {
		t.Fatalf("verify: %s", v.Raw)
	}
	test := e.Call("POST", "/api/v1/sso/connections/"+id+"/test", tok, nil).Must(t, 200)
	if test.Body["success"] != true || apptest.Get(test.Body, "details", "clientAuthenticationValid") != true {
		t.Fatalf("test: %s", test.Raw)
	}
	e.Call("POST", "/api/v1/sso/connections/"+id+"/activate", tok, nil).Must(t, 200)
	// A wrong secret is what the connection test finds, as at a real IdP.
	oidcConfig["clientSecret"] = "wrong"
	wrong := e.Call("POST", "/api/v1/sso/connections", tok, map[string]any{"name": "Wrong secret", "protocol": "oidc", "oidcConfig": oidcConfig}).Must(t, 201)
	test = e.Call("POST", "/api/v1/sso/connections/"+apptest.Str(wrong.Body, "connection", "id")+"/test", tok, nil).Must(t, 200)
	if test.Body["success"] != false || apptest.Get(test.Body, "details", "clientAuthenticationValid") != false {
		t.Fatalf("test with a wrong secret: %s", test.Raw)
	}

	// The brand's application, letting first-time users in.
	redirect := fmt.Sprintf("http://127.0.0.1:%d/callback", storetest.FreePort(t))
	brand := e.CreateBrand(tok, "Contoso Learning")
	d := e.MustGQL(tok, `mutation($b: ID!, $r: [String!]!) { createApplication(input: {brandId: $b, name: "Portal", redirectUris: $r}) {
		application { clientId } clientSecret errors { message } } }`, map[string]any{"b": brand, "r": []string{redirect}})
	e.MustGQL(tok, `mutation($b: ID!, $c: ID!) { brands { createIdentityProviderConfiguration(input: {brandId: $b,
		identityProviderId: $c, autoProvisionLearners: true}) { errors { message } } } }`, map[string]any{"b": brand, "c": id})
	provider, err := oidc.NewProvider(context.Background(), e.URL)
	if err != nil {
		t.Fatal(err)
	}
	rp := oauth2.Config{ClientID: apptest.Str(d, "createApplication", "application", "clientId"), ClientSecret: apptest.Str(d, "createApplication", "clientSecret"),
		Endpoint: provider.Endpoint(), RedirectURL: redirect, Scopes: []string{oidc.ScopeOpenID, "email", "profile"}}

	// A person signs in: the IdP's page, filled in with the login_hint, is submitted as typed.
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), redirect) {
			return http.ErrUseLastResponse // the application's callback: nobody listens there
		}
		return nil
	}}
	// prompt=none: the stand-in keeps no sessions, so the application hears login_required.
	resp, err = browser.Get(rp.AuthCodeURL("st", oidc.Nonce("nn"), oauth2.S256ChallengeOption(oauth2.GenerateVerifier()),
		oauth2.SetAuthURLParam("login_hint", "ada@contoso.com"), oauth2.SetAuthURLParam("prompt", "none")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if l := resp.Header.Get("Location"); !strings.HasPrefix(l, redirect+"?error=login_required") {
		t.Fatalf("prompt=none: %d %s", resp.StatusCode, l)
	}
	verifier := oauth2.GenerateVerifier()
	resp, err = browser.Get(rp.AuthCodeURL("st", oidc.Nonce("nn"), oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("login_hint", "ada@contoso.com")))
	if err != nil {
		t.Fatal(err)
	}
	var page bytes.Buffer
	page.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.Request.URL.Host != addr || !strings.Contains(page.String(), `value="ada@contoso.com"`) {
		t.Fatalf("the IdP's page, at %s: %s", resp.Request.URL, page.String())
	}
	form := url.Values{"given_name": {"Ada"}, "family_name": {"Lovelace"}, "company": {"Contoso"}}
	for _, m := range regexp.MustCompile(`name="([^"]+)" value="([^"]*)"`).FindAllStringSubmatch(page.String(), -1) {
		form.Set(m[1], html.UnescapeString(m[2]))
	}
	resp, err = browser.PostForm(issuer+"/authorize", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	back, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || back.Query().Get("code") == "" || back.Query().Get("state") != "st" {
		t.Fatalf("back at the application with %d %s\nthe IdP's log:\n%s", resp.StatusCode, resp.Header.Get("Location"), logs.String())
	}
	token, err := rp.Exchange(context.Background(), back.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := token.Extra("id_token").(string)
	idt, err := provider.Verifier(&oidc.Config{ClientID: rp.ClientID}).Verify(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	idt.Claims(&claims)
	if claims["email"] != "ada@contoso.com" || claims["sign_in"] != "provisioned" || claims["given_name"] != "Ada" || claims["connection"] != "contoso" {
		t.Fatalf("id_token claims: %v", claims)
	}
}
