package sso_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gatehouse/app/apptest"
	"gatehouse/store/storetest"
)

// TestExampleRelyingParty runs examples/relying-party, the application docs/sign-in.md and
// README.md tell people to try, as they run it: built from its source, configured by its
// environment variables, signing a person in through Gatehouse and an OIDC IdP in a browser
// (a cookie-keeping client), then signing them out at Gatehouse's end_session_endpoint.
func TestExampleRelyingParty(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the example")
	}
	bin := filepath.Join(t.TempDir(), "relying-party")
	build := exec.Command("go", "build", "-o", bin, "../examples/relying-party")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./examples/relying-party: %v\n%s", err, out)
	}
	idp := newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		addr := fmt.Sprintf("127.0.0.1:%d", storetest.FreePort(t))
		home := "http://" + addr + "/"
		// The application's registration, as docs/sign-in.md's first step has it.
		d := e.MustGQL(w.tok, `mutation($b: ID!, $r: [String!]!, $p: [String!]) { createApplication(input: {brandId: $b, name: "Example app",
			redirectUris: $r, postLogoutRedirectUris: $p}) { application { clientId } clientSecret errors { label message } } }`,
			map[string]any{"b": w.brand, "r": []string{home + "callback"}, "p": []string{home}})
		if errs := payloadErrors(t, d, "createApplication"); len(errs) > 0 {
			t.Fatalf("createApplication: %v", errs)
		}
		logs := &apptest.Logs{} // the example's output, written as it runs
		ctx, stop := context.WithCancel(context.Background())
		rp := exec.CommandContext(ctx, bin)
		rp.Env = append(os.Environ(), "GATEHOUSE_URL="+e.URL, "ADDR="+addr,
			"CLIENT_ID="+str(d, "createApplication", "application", "clientId"), "CLIENT_SECRET="+str(d, "createApplication", "clientSecret"))
		rp.Stdout, rp.Stderr = logs, logs
		if err := rp.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { rp.Wait(); close(exited) }()
		t.Cleanup(func() { stop(); <-exited })

		jar, _ := cookiejar.New(nil)
		browser := &http.Client{Jar: jar, Timeout: 10 * time.Second}
		open := func(u string) (string, string) {
			t.Helper()
			resp, err := browser.Get(u)
			if err != nil {
				t.Fatalf("GET %s: %v\nthe example's log:\n%s", u, err, logs.String())
			}
			defer resp.Body.Close()
			var body bytes.Buffer
			body.ReadFrom(resp.Body)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s ended at %s with %d: %s\nthe example's log:\n%s", u, resp.Request.URL, resp.StatusCode, body.String(), logs.String())
			}
			return resp.Request.URL.String(), body.String()
		}
		// The example listens once it has read Gatehouse's discovery document.
		for deadline := time.Now().Add(10 * time.Second); ; {
			select {
			case <-exited:
				t.Fatalf("the example exited: %s", logs.String())
			default:
			}
			resp, err := http.Get(home)
			if err == nil {
				resp.Body.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the example does not answer at %s: %v\n%s", home, err, logs.String())
			}
			time.Sleep(20 * time.Millisecond)
		}

		if _, page := open(home); !strings.Contains(page, `<input type="email" name="email">`) {
			t.Fatalf("home page: %s", page)
		}
		// The person types their work email: the form's GET /login?email=….
		idp.as(map[string]any{"sub": "okta-ella", "email": "ella@example.com", "given_name": "Ella", "family_name": "Example"})
		var callback string
		browser.CheckRedirect = func(req *http.Request, via []*http.Request) error {
			if req.URL.Path == "/callback" {
				callback = req.URL.String()
			}
			return nil
		}
		at, page := open(home + "login?email=ella%40example.com")
		if at != home || !strings.Contains(page, "Signed in.") || callback == "" {
			t.Fatalf("signed in at %s, by %q: %s", at, callback, page)
		}
		for _, claim := range []string{`&#34;email&#34;: &#34;ella@example.com&#34;`, `&#34;sign_in&#34;: &#34;provisioned&#34;`,
			`&#34;iss&#34;: &#34;` + e.URL + `&#34;`, `&#34;connection&#34;: &#34;` + w.slug + `&#34;`} {
			if !strings.Contains(page, claim) {
				t.Errorf("the page shows no %s: %s", claim, page)
			}
		}

		// A reload of the callback URL (the browser's history) does not send its code again (a
		// second use would revoke the sign-in's tokens): the state check stops it, 400, where a
		// refused exchange would be 502. The home page still shows the claims.
		if resp, err := browser.Get(callback); err != nil || resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("the callback again: %v %v", resp, err)
		} else {
			resp.Body.Close()
		}
		if _, again := open(home); again != page {
			t.Fatalf("home after the reload: %s", again)
		}

		// Sign out: Gatehouse's end_session_endpoint ends the sign-in and sends the browser
		// home, to the form again.
		at, page = open(home + "logout")
		if at != home || !strings.Contains(page, `<input type="email" name="email">`) {
			t.Fatalf("signed out at %s: %s", at, page)
		}
	})
}
