package sso_test

import (
	"net/url"
	"testing"

	"gatehouse/app"
	"gatehouse/app/apptest"
	"gatehouse/sso/dnstest"
	"gatehouse/sso/samltest"
)

// Branches of the first-sign-in engine (provision.SignIn) that only the service-level tests
// took, each now end to end through a real browser sign-in on both databases. A browser
// sign-in decides on its own path (the fast path, returning, and FirstSignInReads when the
// flow holds the connection), so the service-level tests do not stand for it.

// The refusal reasons as provision/signin.go words them: the person reads them, as the
// application's error_description.
const (
	wantOtherIdentity    = "An account with your email address is already linked to a different identity at this identity provider. Contact your administrator."
	wantDomainUnverified = "An account with your email address exists, but your email domain is not verified for this identity provider, so it cannot be linked automatically. Contact your administrator."
	wantNoEmail          = "Your identity provider did not send a valid email address, which a new account needs. Contact your administrator."
	wantUserNameTaken    = "Another account uses your email address as its user name, so no account can be created for you. Contact your administrator."
	wantDerivedTaken     = "Your identity provider did not send an email address, and the address a new account would get from your identifier is another account's, so no account can be created for you. Contact your administrator."
)

// engineCounts is what a sign-in may create, as an admin counts it: user accounts and
// customer accounts.
type engineCounts struct{ users, accounts int }

func (w *signInWorld) engineCounts(t *testing.T) engineCounts {
	t.Helper()
	d := w.e.MustGQL(w.tok, `{ userAccounts { totalCount } accounts(first: 100) { nodes { id } } }`, nil)
	return engineCounts{users: int(get(d, "userAccounts", "totalCount").(float64)), accounts: len(get(d, "accounts", "nodes").([]any))}
}

// refusedAtApp checks where a refused browser sign-in ended: redirected to the application's
// registered redirect URI with access_denied, the engine's reason as error_description and
// the application's state, and no code.
func (w *signInWorld) refusedAtApp(t *testing.T, status int, location, reason string) {
	t.Helper()
	u, err := url.Parse(location)
	if err != nil || status != 302 || location == "" {
		t.Fatalf("no redirect to the application: %d %q", status, location)
	}
	q := u.Query()
	u.RawQuery = ""
	if u.String() != w.redirect {
		t.Fatalf("redirected to %s, not the application's redirect URI %s", location, w.redirect)
	}
	if q.Get("error") != "access_denied" || q.Get("error_description") != reason || q.Get("state") != "app-state" || q.Has("code") {
		t.Fatalf("refusal at the application: %v (want the reason %q)", q, reason)
	}
}

// onlyRefusal checks that the world's only sign-in event is the refusal, with reason, of the
// identity identifier through the world's connection for its application.
func (w *signInWorld) onlyRefusal(t *testing.T, reason, identifier string) {
	t.Helper()
	d := w.e.MustGQL(w.tok, `{ signInEvents(pageSize: 100) { total events { outcome reason identifier connection { slug } application { clientId } test } } }`, nil)
	evs, _ := get(d, "signInEvents", "events").([]any)
	if len(evs) != 1 || get(d, "signInEvents", "total") != 1.0 {
		t.Fatalf("sign-in events: %v", d)
	}
	ev := evs[0]
	if str(ev, "outcome") != "REFUSED" || str(ev, "reason") != reason || str(ev, "identifier") != identifier ||
		str(ev, "connection", "slug") != w.slug || str(ev, "application", "clientId") != w.app.ClientID || get(ev, "test") != false {
		t.Fatalf("the refusal's event: %v (want the reason %q)", ev, reason)
	}
}

// unbound checks that no account is bound to identifier at the world's connection.
func (w *signInWorld) unbound(t *testing.T, identifier string) {
	t.Helper()
	d := w.e.MustGQL(w.tok, `query($m: String!, $i: String!) { userAccounts(filter: {authModule: $m, identifier: $i}) { totalCount } }`,
		map[string]any{"m": w.slug, "i": identifier})
	if n := get(d, "userAccounts", "totalCount"); n != 0.0 {
		t.Fatalf("%v accounts bound to %s at %s after a refusal", n, identifier, w.slug)
	}
}

// refusedCleanly checks a refusal end to end: the application got access_denied with reason
// (refusedAtApp), the refusal is the world's only sign-in event (onlyRefusal), nothing was
// created since before, and identifier is bound to nobody.
func (w *signInWorld) refusedCleanly(t *testing.T, status int, location, reason, identifier string, before engineCounts) {
	t.Helper()
	w.refusedAtApp(t, status, location, reason)
	w.onlyRefusal(t, reason, identifier)
	if after := w.engineCounts(t); after != before {
		t.Fatalf("the refusal created something: %+v, before %+v", after, before)
	}
	w.unbound(t, identifier)
}

// credentialsOf lists an account's identifiers at its connections, as slug:identifier.
func (w *signInWorld) credentialsOf(t *testing.T, uid string) []string {
	t.Helper()
	d := w.e.MustGQL(w.tok, `query($u: ID!) { userAccount(uuid: $u) { credentials { authModule identifier } } }`, map[string]any{"u": uid})
	var out []string
	for _, c := range get(d, "userAccount", "credentials").([]any) {
		out = append(out, str(c, "authModule")+":"+str(c, "identifier"))
	}
	return out
}

// bind binds an account to identifier at the connection slug, as an admin does ahead of time.
func (w *signInWorld) bind(t *testing.T, uid, slug, identifier string) {
	t.Helper()
	d := w.e.MustGQL(w.tok, `mutation($u: ID!, $m: String!, $i: String!) { updateUserAccountCredentials(input: {accountUuid: $u, authModule: $m,
		identifier: $i, secret: ""}) { errors { label message } } }`, map[string]any{"u": uid, "m": slug, "i": identifier})
	if errs := payloadErrors(t, d, "updateUserAccountCredentials"); len(errs) > 0 {
		t.Fatalf("bind %s to %s:%s: %v", uid, slug, identifier, errs)
	}
}

// A person whose email belongs to an account already bound to another identity at the same
// connection is refused (the engine's step 2 never rebinds): the application gets
// access_denied with the reason, one refused event is written, the account keeps its one
// binding, and nothing is created although the connection has JIT provisioning.
func TestBrowserSignInRefusedOtherIdentity(t *testing.T) {
	idp := newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		pat := e.CreateUser(w.tok, "pat@example.com")
		w.bind(t, pat, w.slug, "okta-pat")
		before := w.engineCounts(t)

		idp.as(map[string]any{"sub": "okta-pat-again", "email": "pat@example.com", "given_name": "Pat"})
		r, _ := w.signIn(t, newBrowser(t, w.redirect), w.app, "login_hint", "pat@example.com")
		w.refusedCleanly(t, r.status, r.location, wantOtherIdentity, "okta-pat-again", before)
		if got := w.credentialsOf(t, pat); len(got) != 1 || got[0] != w.slug+":okta-pat" {
			t.Fatalf("the account's bindings: %v", got)
		}
	})
}

// The account with the person's email is not linked when its domain is not verified for the
// connection (here: added to the connection, still pending): access_denied with the reason,
// one refused event, the account left unbound and nothing created, JIT provisioning or not.
func TestBrowserSignInRefusedDomainUnverified(t *testing.T) {
	idp := newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		d := e.MustGQL(w.tok, `mutation($c: ID!) { addDomain(input: {connectionId: $c, domain: "partner.test"}) { domain { status } errors { message } } }`,
			map[string]any{"c": w.conn})
		if str(d, "addDomain", "domain", "status") != "PENDING" {
			t.Fatalf("addDomain: %v", d)
		}
		quinn := e.CreateUser(w.tok, "quinn@partner.test")
		before := w.engineCounts(t)

		idp.as(map[string]any{"sub": "okta-quinn", "email": "quinn@partner.test", "given_name": "Quinn"})
		r, _ := w.signIn(t, newBrowser(t, w.redirect), w.app, "connection", w.slug)
		w.refusedCleanly(t, r.status, r.location, wantDomainUnverified, "okta-quinn", before)
		if got := w.credentialsOf(t, quinn); len(got) != 0 {
			t.Fatalf("the account was bound: %v", got)
		}
	})
}

// A just-in-time sign-in whose identity provider sends no email, with an identifier that is
// not an email address, gets identifier@<the connection's primary domain>; removing the
// primary domain makes the domain verified first primary (here the only other one), and new
// people get addresses there. When that address is another account's, the sign-in is refused
// saying so: access_denied with the reason, one refused event, nothing created. An identifier
// that makes no valid address is refused too (an active connection always has a primary
// domain).
func TestBrowserSignInRefusedNoEmail(t *testing.T) {
	idp := newTestIdP(t)
	txt := dnstest.NewTXTServer(t)
	apptest.Each(t, func(t *testing.T, ae *apptest.Env) {
		e := &testEnv{ae}
		w := newSignInWorld(t, e, idp)
		d := e.MustGQL(w.tok, `mutation($c: ID!) { addDomain(input: {connectionId: $c, domain: "example.org"}) {
			domain { id dnsRecord { name value } } errors { message } } }`, map[string]any{"c": w.conn})
		org := str(d, "addDomain", "domain", "id")
		txt.Publish(str(d, "addDomain", "domain", "dnsRecord", "name"), str(d, "addDomain", "domain", "dnsRecord", "value"))
		d = e.MustGQL(w.tok, `mutation($c: ID!, $d: ID!) { verifyDomain(input: {connectionId: $c, domainId: $d}) { success domain { status isPrimary } errors { message } } }`,
			map[string]any{"c": w.conn, "d": org})
		if get(d, "verifyDomain", "success") != true || get(d, "verifyDomain", "domain", "isPrimary") != false {
			t.Fatalf("verifyDomain: %v", d)
		}
		d = e.MustGQL(w.tok, `query($c: ID!) { connection(id: $c) { domains { id domain isPrimary } } }`, map[string]any{"c": w.conn})
		var primary string
		for _, dm := range get(d, "connection", "domains").([]any) {
			if get(dm, "isPrimary") == true {
				primary = str(dm, "id")
			}
		}
		d = e.MustGQL(w.tok, `mutation($c: ID!, $d: ID!) { removeDomain(input: {connectionId: $c, domainId: $d}) { removedDomainId errors { message } } }`,
			map[string]any{"c": w.conn, "d": primary})
		if primary == "" || str(d, "removeDomain", "removedDomainId") != primary {
			t.Fatalf("removeDomain %q: %v", primary, d)
		}
		d = e.MustGQL(w.tok, `query($c: ID!) { connection(id: $c) { status jitProvisioning domains { domain status isPrimary } } }`, map[string]any{"c": w.conn})
		if doms := get(d, "connection", "domains").([]any); str(d, "connection", "status") != "ACTIVE" || get(d, "connection", "jitProvisioning") != true ||
			len(doms) != 1 || str(doms[0], "domain") != "example.org" || str(doms[0], "status") != "VERIFIED" || get(doms[0], "isPrimary") != true {
			t.Fatalf("the connection after its primary domain was removed: %v", d)
		}

		idp.as(map[string]any{"sub": "okta-nomail", "given_name": "Noe"})
		r, verifier := w.signIn(t, newBrowser(t, w.redirect), w.app, "connection", w.slug)
		if r.query.Get("code") == "" {
			t.Fatalf("a sign-in without an email: %+v", r)
		}
		if claims, _ := w.claimsOf(t, w.app, r.query.Get("code"), verifier); claims["email"] != "okta-nomail@example.org" {
			t.Fatalf("the derived email: %v", claims["email"])
		}

		e.CreateUser(w.tok, "okta-taken@example.org") // an account of the address the next person's would be
		before := w.engineCounts(t)
		idp.as(map[string]any{"sub": "okta-taken", "given_name": "Tak"})
		r, _ = w.signIn(t, newBrowser(t, w.redirect), w.app, "connection", w.slug)
		w.refusedAtApp(t, r.status, r.location, wantDerivedTaken)
		d = e.MustGQL(w.tok, `{ signInEvents(outcome: REFUSED, pageSize: 100) { total events { reason identifier } } }`, nil)
		if get(d, "signInEvents", "total") != 1.0 || str(d, "signInEvents", "events", 0, "reason") != wantDerivedTaken ||
			str(d, "signInEvents", "events", 0, "identifier") != "okta-taken" {
			t.Fatalf("the refusal's event: %v", d)
		}
		if after := w.engineCounts(t); after != before {
			t.Fatalf("the refusal created something: %+v, before %+v", after, before)
		}
		w.unbound(t, "okta-taken")

		// An identifier that makes no address with the primary domain: nothing can be derived.
		idp.as(map[string]any{"sub": "okta none", "given_name": "Nan"})
		r, _ = w.signIn(t, newBrowser(t, w.redirect), w.app, "connection", w.slug)
		w.refusedAtApp(t, r.status, r.location, wantNoEmail)
		d = e.MustGQL(w.tok, `{ signInEvents(outcome: REFUSED, pageSize: 100) { total events { reason identifier } } }`, nil)
		if get(d, "signInEvents", "total") != 2.0 || str(d, "signInEvents", "events", 0, "reason") != wantNoEmail {
			t.Fatalf("the refusal's event: %v", d)
		}
		w.unbound(t, "okta none")
	}, func(c *app.Config) { c.DNSServer = txt.Addr })
}

// A new account's user name is its email: when another account has that address as its user
// name (its IdP named it so through SCIM, with another email), the just-in-time sign-in
// that would create it is refused rather than failing on the unique user name. The browser
// gets access_denied with the reason, the attempt that lost on the index leaves no event
// (one refused event in all), nothing is created, the other account is unchanged.
func TestBrowserSignInRefusedUserNameTaken(t *testing.T) {
	idp := newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		scim, _ := e.SCIMToken(w.tok, map[string]any{"name": "provisioning"})
		olga := e.SCIMUser(scim, map[string]any{"userName": "olga@example.com",
			"emails": []any{map[string]any{"value": "olga.new@example.com", "primary": true}}})
		before := w.engineCounts(t)

		idp.as(map[string]any{"sub": "okta-olga", "email": "olga@example.com", "given_name": "Olga"})
		r, _ := w.signIn(t, newBrowser(t, w.redirect), w.app, "login_hint", "olga@example.com")
		w.refusedCleanly(t, r.status, r.location, wantUserNameTaken, "okta-olga", before)
		d := e.MustGQL(w.tok, `query($u: ID!) { userAccount(uuid: $u) { email userName credentials { identifier } } }`, map[string]any{"u": olga})
		if str(d, "userAccount", "email") != "olga.new@example.com" || str(d, "userAccount", "userName") != "olga@example.com" ||
			len(get(d, "userAccount", "credentials").([]any)) != 0 {
			t.Fatalf("the other account: %v", d)
		}
	})
}

// The brand's configuration for the connection names a default account (DEFAULT_ACCOUNT):
// a first sign-in lands there, ahead of a company that matches the person's company claim,
// whether the connection's JIT provisioning or the configuration's autoProvisionLearners
// creates the person. The id_token's account_id is the default account, as GraphQL reads the
// new person back; no account is created for them.
func TestBrowserSignInPlacesInDefaultAccount(t *testing.T) {
	idp := newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		e.CreateAccount(w.tok, "Globex HQ", e.CreateCompany(w.tok, "Globex"))
		learners := e.CreateAccount(w.tok, "Academy Learners", e.CreateCompany(w.tok, "Acme Academy Ltd"))
		d := e.MustGQL(w.tok, `mutation($b: ID!, $c: ID!, $a: ID!) { brands { createIdentityProviderConfiguration(input: {brandId: $b,
			identityProviderId: $c, autoProvisionLearners: true, defaultAccountId: $a}) {
			identityProviderConfiguration { defaultAccount { id } } errors { label message } } } }`,
			map[string]any{"b": w.brand, "c": w.conn, "a": learners})
		if got := str(d, "brands", "createIdentityProviderConfiguration", "identityProviderConfiguration", "defaultAccount", "id"); got != learners {
			t.Fatalf("configuration: %v", d)
		}
		before := w.engineCounts(t)

		signIn := func(sub, email string) {
			t.Helper()
			idp.as(map[string]any{"sub": sub, "email": email, "given_name": "Gina", "company": "Globex"})
			r, verifier := w.signIn(t, newBrowser(t, w.redirect), w.app, "login_hint", email)
			if r.query.Get("code") == "" || r.query.Get("state") != "app-state" {
				t.Fatalf("%s: no code: %+v", sub, r)
			}
			claims, _ := w.claimsOf(t, w.app, r.query.Get("code"), verifier)
			if claims["sign_in"] != "provisioned" || claims["account_id"] != learners || claims["email"] != email {
				t.Fatalf("%s: placed into %v, not the default account %s: %v", sub, claims["account_id"], learners, claims)
			}
			d := e.MustGQL(w.tok, `query($u: ID!, $a: ID!) { userAccount(uuid: $u) { email account { id name } credentials { authModule identifier } }
				account(id: $a) { id name } }`, map[string]any{"u": claims["sub"], "a": learners})
			if str(d, "userAccount", "email") != email || str(d, "userAccount", "account", "id") != learners ||
				str(d, "userAccount", "account", "name") != "Academy Learners" || str(d, "account", "name") != "Academy Learners" ||
				str(d, "userAccount", "credentials", 0, "identifier") != sub {
				t.Fatalf("%s: the new person as GraphQL reads them: %v", sub, d)
			}
		}
		signIn("okta-gina", "gina@example.com") // the connection's JIT provisioning
		d = e.MustGQL(w.tok, `mutation($id: ID!) { updateConnection(input: {id: $id, jitProvisioning: false}) { errors { message } } }`,
			map[string]any{"id": w.conn})
		if errs := payloadErrors(t, d, "updateConnection"); len(errs) > 0 {
			t.Fatalf("updateConnection: %v", errs)
		}
		signIn("okta-gus", "gus@example.com") // the configuration's autoProvisionLearners

		if after := w.engineCounts(t); after.users != before.users+2 || after.accounts != before.accounts {
			t.Fatalf("counts %+v, before %+v: two people, no new account", after, before)
		}
		d = e.MustGQL(w.tok, `{ signInEvents { total events { outcome } } }`, nil)
		if evs := get(d, "signInEvents", "events").([]any); len(evs) != 2 || str(evs[0], "outcome") != "PROVISIONED" || str(evs[1], "outcome") != "PROVISIONED" {
			t.Fatalf("sign-in events: %v", d)
		}
	})
}

// The same refusal as TestBrowserSignInRefusedOtherIdentity through SAML: the account with
// the asserted email is bound to another NameID at the SAML connection, so the assertion of a
// new NameID is refused at the ACS with the reason, one refused event, nothing created.
func TestSAMLSignInRefusedOtherIdentity(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSAMLWorld(t, e)
		w.idp.SignIn(samltest.User{NameID: "00u-ada-new", Email: "ada@example.com", GivenName: "Ada", Surname: "Lovelace"})
		ada := e.CreateUser(w.tok, "ada@example.com")
		w.bind(t, ada, samlSlug, "00u-ada")
		before := w.engineCounts(t)

		b := w.browser()
		page, _ := w.toIdP(t, b)
		resp, _ := w.post(t, b, e.URL, page)
		w.refusedCleanly(t, resp.StatusCode, resp.Header.Get("Location"), wantOtherIdentity, "00u-ada-new", before)
		if got := w.credentialsOf(t, ada); len(got) != 1 || got[0] != samlSlug+":00u-ada" {
			t.Fatalf("the account's bindings: %v", got)
		}
	})
}
