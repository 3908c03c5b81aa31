package rest_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/app/apptest"
)

// violations records what checkContract reports.
type violations struct {
	mu   sync.Mutex
	msgs []string
}

func (v *violations) Helper() {}
func (v *violations) Errorf(format string, args ...any) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.msgs = append(v.msgs, fmt.Sprintf(format, args...))
}

// TestContractCheckerCatchesDrift proves the checker fails a test for each kind of drift, and
// stays quiet for an exchange that matches the document.
func TestContractCheckerCatchesDrift(t *testing.T) {
	const tokID = "0190c7e5-0000-7000-8000-000000000001"
	activity := `{"id":"` + tokID + `","operation":"create","resourceType":"user","resourceId":"u1","status":"success",` +
		`"errorMessage":null,"details":{"userName":"ada"},"tokenId":"` + tokID + `","timestamp":"2026-01-02T03:04:05Z"}`
	token := `{"id":"` + tokID + `","name":"Okta","maskedValue":"scim_abc...****","status":"active","scopes":["users:read"],` +
		`"connectionId":null,"expiresAt":null,"revokedAt":null,"createdAt":"2026-01-02T03:04:05Z"}`
	for _, tc := range []struct {
		name, method, target, body string
		status                     int
		answer                     string
		want                       string // fragment of the violation, "" for none
	}{
		{"matching answer", "GET", "/api/v1/scim/tokens/" + tokID, "", 200, `{"token":` + token + `}`, ""},
		{"document's error shape", "GET", "/api/v1/scim/tokens/0190c7e5-0000-7000-8000-000000000002", "", 404, `{"error":{"type":"not_found","message":"no such token"}}`, ""},
		{"undocumented route", "GET", "/api/v1/scim/secrets", "", 200, `{}`, "not in the document"},
		{"undocumented method", "PATCH", "/api/v1/scim/tokens/" + tokID, `{}`, 200, `{"token":` + token + `}`, "not in the document"},
		{"unknown route refused", "GET", "/api/v1/nothing", "", 404, `{"error":{"type":"not_found","message":"no such endpoint"}}`, ""},
		{"undocumented status", "GET", "/api/v1/scim/tokens/" + tokID, "", 202, `{"token":` + token + `}`, "status is not supported"},
		{"undocumented field", "GET", "/api/v1/scim/tokens/" + tokID, "", 200, `{"token":` + token[:len(token)-1] + `,"secret":"x"}}`, `"secret" is unsupported`},
		{"not a date-time", "GET", "/api/v1/scim/tokens/" + tokID, "", 200, `{"token":` + strings.Replace(token, "2026-01-02T03:04:05Z", "yesterday", 1) + `}`, "date-time"},
		{"id not a UUID", "GET", "/api/v1/scim/tokens/" + tokID, "", 200, `{"token":` + strings.Replace(token, tokID, "tok-1", 1) + `}`, "uuid"},
		{"malformed id refused", "GET", "/api/v1/scim/tokens/tok-1", "", 404, `{"error":{"type":"not_found","message":"no SCIM token with this id"}}`, ""},
		{"missing field", "GET", "/api/v1/scim/tokens/" + tokID, "", 200, `{"token":{"id":"t1"}}`, "doesn't match schema"},
		{"wrong error type", "GET", "/api/v1/scim/tokens/" + tokID, "", 404, `{"error":{"type":"gone","message":"x"}}`, "doesn't match schema"},
		{"invalid request accepted", "GET", "/api/v1/scim/tokens?pageSize=101", "", 200, `{"tokens":[],"page":1,"pageSize":101,"total":0}`, "did not answer 4xx"},
		{"invalid request refused", "GET", "/api/v1/scim/tokens?pageSize=101", "", 400, `{"error":{"type":"validation_error","message":"pageSize"}}`, ""},
		{"unknown body field accepted", "POST", "/api/v1/scim/tokens", `{"name":"x","colour":"red"}`, 201, `{"token":` + token + `,"plainValue":"scim_x"}`, "did not answer 4xx"},
		{"401 without WWW-Authenticate", "GET", "/api/v1/scim/statistics", "-", 401, `{"error":{"type":"authentication_error","message":"x"}}`, "WWW-Authenticate"},
		{"no token accepted", "GET", "/api/v1/scim/statistics", "-", 200, `{}`, "did not answer 4xx"},
		{"activity details not an object", "GET", "/api/v1/scim/activities", "", 200, `{"activities":[` + strings.Replace(activity, `{"userName":"ada"}`, `["ada"]`, 1) +
			`],"page":1,"pageSize":20,"total":1}`, "doesn't match schema"},
		{"activity as the document shows it", "GET", "/api/v1/scim/activities", "", 200, `{"activities":[` + activity + `],"page":1,"pageSize":20,"total":1}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.answer)
			})
			var v violations
			srv := httptest.NewServer(apptest.CheckContract(&v, fake))
			defer srv.Close()
			var body io.Reader
			if tc.body != "" && tc.body != "-" {
				body = strings.NewReader(tc.body)
			}
			req, _ := http.NewRequest(tc.method, srv.URL+tc.target, body)
			if tc.body != "-" {
				req.Header.Set("Authorization", "Bearer x")
			}
			if body != nil {
				req.Header.Set("Content-Type", "application/json")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || string(got) != tc.answer {
				t.Errorf("the checker changed the answer: %d %s", resp.StatusCode, got)
			}
			switch {
			case tc.want == "" && len(v.msgs) > 0:
				t.Errorf("reported a matching exchange: %v", v.msgs)
			case tc.want != "" && (len(v.msgs) != 1 || !strings.Contains(v.msgs[0], tc.want)):
				t.Errorf("want one violation containing %q, got %q", tc.want, v.msgs)
			}
		})
	}
}

// TestRESTContractEveryOperation walks every documented operation through the real server,
// successes and the document's errors, so each is checked against the document on both
// databases whatever the other tests do; then it requires that every documented operation has
// been seen by the checker.
func TestRESTContractEveryOperation(t *testing.T) {
	w, mod := newSSOWorld(t)
	eachDBWith(t, mod, func(t *testing.T, e *testEnv) {
		w.reset()
		tok := e.AdminToken()
		cid, csec := e.CreateClient(tok, []string{"graphql"}, "")
		weak := e.Token(cid, csec)
		const conns = "/api/v1/sso/connections"
		missing := "/0190c7e5-0000-7000-8000-000000000000"

		e.REST("", "GET", conns, "").MustError(t, 401, "authentication_error", "")
		e.REST(weak, "GET", conns, "").MustError(t, 403, "permission_error", "admin scope")
		e.REST(tok, "POST", conns, `{"name":"x","protocol":"oidc","colour":"red"}`).MustError(t, 400, "validation_error", "colour")
		e.REST(tok, "POST", conns, `{"name":"","protocol":"oidc"}`).MustError(t, 400, "validation_error", "")
		e.REST(tok, "POST", conns, docCreateOIDC).Must(t, 201)
		e.REST(tok, "POST", conns, docCreateOIDC).MustError(t, 409, "conflict", "")
		now := time.Now()
		samlBody, _ := json.Marshal(map[string]any{"name": "SAML", "protocol": "saml", "samlConfig": map[string]any{
			"entityId": "https://sts.windows.net/" + tenantID + "/", "ssoUrl": "https://login.microsoftonline.com/" + tenantID + "/saml2",
			"certificate": apptest.SAMLCert(t, now.Add(-time.Hour), now.AddDate(1, 0, 0)), "signRequests": true,
			"attributeMapping": map[string]string{"email": "mail"}}})
		saml := str(e.REST(tok, "POST", conns, string(samlBody)).Must(t, 201).Body, "connection", "id")
		base := conns + "/" + str(e.REST(tok, "POST", conns, localOIDCBody("Local", w.idp.URL)).Must(t, 201).Body, "connection", "id")

		e.REST(tok, "GET", conns+"?protocol=oidc&status=inactive&name=loc&page=1&pageSize=1", "").Must(t, 200)
		e.REST(tok, "GET", conns+"?pageSize=101", "").MustError(t, 400, "validation_error", "pageSize")
		e.REST(tok, "GET", base, "").Must(t, 200)
		e.REST(tok, "GET", conns+missing, "").MustError(t, 404, "not_found", "")
		e.REST(tok, "PUT", base, `{"jitProvisioning":true,"defaultRole":"member"}`).Must(t, 200)
		e.REST(tok, "PUT", base, `{"defaultRole":"owner"}`).MustError(t, 400, "validation_error", "defaultRole")
		e.REST(tok, "POST", base+"/activate", "").MustError(t, 409, "invalid_state", "")
		e.REST(tok, "POST", base+"/test", "").Must(t, 200)
		e.REST(tok, "POST", conns+"/"+saml+"/test", "").Must(t, 200)
		e.REST(tok, "POST", conns+"/"+saml+"/refresh-certificates", "").MustError(t, 409, "invalid_state", "refreshCertificatesFromMetadata")
		e.REST(tok, "POST", conns+missing+"/refresh-certificates", "").MustError(t, 404, "not_found", "")

		add := e.REST(tok, "POST", base+"/domains", docAddDomain).Must(t, 201)
		domain := base + "/domains/" + str(add.Body, "domain", "id")
		e.REST(tok, "GET", base+"/domains", "").Must(t, 200)
		e.REST(tok, "POST", domain+"/set-primary", "").MustError(t, 409, "invalid_state", "not verified")
		e.REST(tok, "PUT", domain+"/verify", "").Must(t, 200) // no record yet: success false
		w.setTXT("_gatehouse-verify.example.com", str(add.Body, "domain", "verificationToken"))
		e.REST(tok, "PUT", domain+"/verify", "").Must(t, 200)
		e.REST(tok, "POST", domain+"/set-primary", "").Must(t, 200)
		file := e.REST(tok, "POST", base+"/domains", `{"domain":"b.example.org","verificationMethod":"https-file"}`).Must(t, 201)
		e.REST(tok, "POST", base+"/activate", "").Must(t, 200)
		e.REST(tok, "DELETE", domain, "").MustError(t, 409, "invalid_state", "")
		e.REST(tok, "DELETE", base+"/domains/"+str(file.Body, "domain", "id"), "").Must(t, 204)
		e.REST(tok, "POST", base+"/deactivate", "").Must(t, 200)
		e.REST(tok, "GET", "/api/v1/sso/sp-metadata", "").Must(t, 200)
		e.REST(tok, "GET", "/api/v1/sso/sp-keys", "").Must(t, 200)
		e.REST(tok, "POST", "/api/v1/sso/sp-keys/rotate", "").Must(t, 201)
		e.REST(tok, "POST", "/api/v1/sso/sp-keys/promote", "").Must(t, 200)
		e.REST(tok, "DELETE", "/api/v1/sso/sp-keys/previous", "").Must(t, 204)
		e.REST(tok, "GET", "/api/v1/oauth/signing-keys", "").Must(t, 200)
		e.REST(tok, "POST", "/api/v1/oauth/signing-keys/rotate", "").Must(t, 201)
		e.REST(tok, "POST", "/api/v1/oauth/signing-keys/promote", "").Must(t, 200)
		e.REST(tok, "DELETE", "/api/v1/oauth/signing-keys/previous", "").Must(t, 204)
		tok = e.AdminToken() // tok's key is no longer published
		e.REST(tok, "POST", conns+missing+"/test-sign-in", "").MustError(t, 404, "not_found", "")
		e.REST(tok, "GET", conns+"/"+saml+"/test-sign-in"+missing, "").MustError(t, 404, "not_found", "")
		e.REST(tok, "DELETE", conns+"/"+saml, "").Must(t, 204)
		e.REST(tok, "DELETE", conns+"/"+saml, "").MustError(t, 404, "not_found", "")

		const tokens = "/api/v1/scim/tokens"
		created := e.REST(tok, "POST", tokens, `{"name":"Okta SCIM Token","scopes":["users:read","groups:read"],"expiresInDays":365}`).Must(t, 201)
		e.REST(tok, "POST", tokens, `{"name":"x","scopes":["users:delete"]}`).MustError(t, 400, "validation_error", "")
		one := tokens + "/" + str(created.Body, "token", "id")
		e.REST(tok, "GET", tokens+"?status=active&name=okta&page=1&pageSize=10", "").Must(t, 200)
		e.REST(tok, "GET", one, "").Must(t, 200)
		e.REST(tok, "POST", one+"/revoke", "").Must(t, 200)
		e.REST(tok, "GET", tokens+missing, "").MustError(t, 404, "not_found", "")
		e.REST(tok, "GET", "/api/v1/scim/activities?operation=create&resourceType=user&status=success&startDate=2000-01-01&endDate=2100-01-01", "").Must(t, 200)
		e.REST(tok, "GET", "/api/v1/scim/activities?startDate=yesterday", "").MustError(t, 400, "validation_error", "")
		e.REST(tok, "GET", "/api/v1/scim/statistics", "").Must(t, 200)
		e.REST(tok, "DELETE", one, "").Must(t, 204)

		e.REST("", "GET", "/api/v1/no-such-thing", "").MustError(t, 404, "not_found", "no such endpoint")
		// A path the document has, with a method it does not: 405 and the methods there are.
		for _, c := range []struct{ method, path, allow string }{
			{"PATCH", "/api/v1/sso/connections", "GET, HEAD, POST"},
			{"PATCH", "/api/v1/scim/tokens" + missing, "GET, HEAD, DELETE"},
			{"DELETE", "/api/v1/scim/statistics", "GET, HEAD"},
		} {
			r := e.REST(tok, c.method, c.path, "")
			r.MustError(t, 405, "method_not_allowed", c.method+" is not allowed on "+c.path+": use ")
			if got := r.Header.Get("Allow"); got != c.allow {
				t.Errorf("%s %s: Allow %q, want %q", c.method, c.path, got, c.allow)
			}
		}
		e.REST(tok, "PATCH", "/api/v1/no-such-thing", "").MustError(t, 404, "not_found", "no such endpoint")
		for _, public := range []string{"/api/v1/openapi.json", "/api/v1/docs", "/api/v1/docs/gatehouse-docs.js", "/api/v1/docs/nope.js"} {
			if resp, _ := e.GetPublic(public); resp.StatusCode != 200 && !strings.HasSuffix(public, "nope.js") {
				t.Errorf("%s: %d", public, resp.StatusCode)
			}
		}
	})

	unexercised, err := apptest.Unexercised()
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range unexercised {
		t.Errorf("no test exercised %s", key)
	}
}

// TestContractCheckerPassesLargeBodies: a body beyond what the checker copies still reaches the
// handler whole, and the answer is still checked.
func TestContractCheckerPassesLargeBodies(t *testing.T) {
	var got int64
	fake := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":{"type":"validation_error","message":"too large"}}`)
	})
	var v violations
	srv := httptest.NewServer(apptest.CheckContract(&v, fake))
	defer srv.Close()
	size := int64(apptest.CheckedBodyBytes + 1<<20)
	req, _ := http.NewRequest("POST", srv.URL+"/api/v1/scim/tokens", io.LimitReader(zeros{}, size))
	req.Header.Set("Authorization", "Bearer x")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got != size || resp.StatusCode != 400 || len(v.msgs) != 0 {
		t.Fatalf("handler read %d of %d bytes; status %d; violations %q", got, size, resp.StatusCode, v.msgs)
	}
}

// zeros is an endless reader of '0' bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = '0'
	}
	return len(p), nil
}
