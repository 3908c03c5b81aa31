package resolvers_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"gatehouse/app/apptest"
)

// The seed's two requests (../shared/seeds/001_*.txt), verbatim.
const (
	seedCreateIdPConfiguration = apptest.SeedCreateIdPConfiguration
	seedUpdateIdPConfiguration = apptest.SeedUpdateIdPConfiguration
)

// seedWith fills the seed request's placeholders with real ids.
func seedWith(req, brandID, idpID, accountID string) string {
	return strings.NewReplacer("FIXME_BRAND_ID", brandID, "FIXME_IDP_ID", idpID, "FIXME_ACCOUNT_ID", accountID).Replace(req)
}

// brandsPayload returns the payload of brands { <field> } and its error labels.
func brandsPayload(t *testing.T, data map[string]any, field string) (map[string]any, []string) {
	t.Helper()
	p, ok := get(data, "brands", field).(map[string]any)
	if !ok {
		t.Fatalf("no brands.%s in %v", field, data)
	}
	errs, ok := p["errors"].([]any)
	if !ok {
		t.Fatalf("brands.%s: no errors list in %v", field, p)
	}
	var labels []string
	for _, e := range errs {
		labels = append(labels, str(e, "label"))
	}
	return p, labels
}

const brandConfigsQuery = `query($id: ID!) { brand(id: $id) { id identityProviderConfigurations {
	identityProvider { id name slug } autoProvisionLearners defaultAccount { id name } companyClaim } } }`

func TestIdentityProviderConfigurationSeed(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		tok := e.AdminToken()

		t.Run("verbatim with FIXME placeholders: payload errors, never a top-level error", func(t *testing.T) {
			for _, req := range []struct{ q, field string }{
				{seedCreateIdPConfiguration, "createIdentityProviderConfiguration"},
				{seedUpdateIdPConfiguration, "updateIdentityProviderConfiguration"},
			} {
				d := e.MustGQL(tok, req.q, nil)
				p, labels := brandsPayload(t, d, req.field)
				if got := strings.Join(labels, ","); got != "brandId,identityProviderId,defaultAccountId" {
					t.Fatalf("%s: labels %q, payload %v", req.field, got, p)
				}
				if p["brand"] != nil {
					t.Fatalf("%s: brand should be null: %v", req.field, p)
				}
				for _, e := range p["errors"].([]any) {
					if str(e, "message") == "" || !strings.HasPrefix(str(e, "value"), "FIXME_") {
						t.Fatalf("%s: error %v", req.field, e)
					}
				}
			}
		})

		brand := e.CreateBrand(tok, "Learning Portal")
		idp := e.CreateOIDCConnection(tok, "Contoso Entra", "microsoft")
		acme := e.CreateCompany(tok, "Acme")
		defaultAcc := e.CreateAccount(tok, "Acme Learners", acme)
		other := e.CreateAccount(tok, "Walk-ins", "")

		t.Run("create with real ids, read back", func(t *testing.T) {
			d := e.MustGQL(tok, seedWith(seedCreateIdPConfiguration, brand, idp, defaultAcc), nil)
			p, labels := brandsPayload(t, d, "createIdentityProviderConfiguration")
			if len(labels) != 0 || str(p, "brand", "id") != brand {
				t.Fatalf("create: %v", p)
			}
			d = e.MustGQL(tok, brandConfigsQuery, map[string]any{"id": brand})
			cfgs := get(d, "brand", "identityProviderConfigurations").([]any)
			if len(cfgs) != 1 {
				t.Fatalf("configurations: %v", cfgs)
			}
			c := cfgs[0]
			if str(c, "identityProvider", "id") != idp || str(c, "identityProvider", "slug") != "microsoft" ||
				get(c, "autoProvisionLearners") != true || str(c, "defaultAccount", "id") != defaultAcc ||
				str(c, "defaultAccount", "name") != "Acme Learners" || str(c, "companyClaim") != "company" {
				t.Fatalf("configuration: %v", c)
			}
		})

		t.Run("brands list their configurations (batched)", func(t *testing.T) {
			e.CreateBrand(tok, "Second Portal")
			d := e.MustGQL(tok, `{ brands { nodes { name identityProviderConfigurations { identityProvider { slug } defaultAccount { name } } } } }`, nil)
			got := fmt.Sprint(get(d, "brands", "nodes"))
			want := "[map[identityProviderConfigurations:[map[defaultAccount:map[name:Acme Learners] identityProvider:map[slug:microsoft]]] name:Learning Portal] map[identityProviderConfigurations:[] name:Second Portal]]"
			if got != want {
				t.Fatalf("brands:\n%s\nwant\n%s", got, want)
			}
		})

		t.Run("create on an existing configuration is an error, nothing changed", func(t *testing.T) {
			d := e.MustGQL(tok, seedWith(seedCreateIdPConfiguration, brand, idp, other), nil)
			p, labels := brandsPayload(t, d, "createIdentityProviderConfiguration")
			if strings.Join(labels, ",") != "identityProviderId" || p["brand"] != nil {
				t.Fatalf("create twice: %v", p)
			}
			d = e.MustGQL(tok, brandConfigsQuery, map[string]any{"id": brand})
			if got := str(d, "brand", "identityProviderConfigurations", 0, "defaultAccount", "id"); got != defaultAcc {
				t.Fatalf("default account changed to %s", got)
			}
		})

		t.Run("update with real ids", func(t *testing.T) {
			d := e.MustGQL(tok, seedWith(seedUpdateIdPConfiguration, brand, idp, other), nil)
			p, labels := brandsPayload(t, d, "updateIdentityProviderConfiguration")
			if len(labels) != 0 || str(p, "brand", "id") != brand {
				t.Fatalf("update: %v", p)
			}
			d = e.MustGQL(tok, brandConfigsQuery, map[string]any{"id": brand})
			if got := str(d, "brand", "identityProviderConfigurations", 0, "defaultAccount", "id"); got != other {
				t.Fatalf("default account = %s, want %s", got, other)
			}
			// Omitted fields stay; an explicit null clears the default account; companyClaim changes.
			d = e.MustGQL(tok, `mutation($b: ID!, $i: ID!) { brands { updateIdentityProviderConfiguration(input: {
				brandId: $b, identityProviderId: $i, defaultAccountId: null, companyClaim: "organization" }) {
				identityProviderConfiguration { autoProvisionLearners defaultAccount { id } companyClaim } errors { label } } } }`,
				map[string]any{"b": brand, "i": idp})
			c := get(d, "brands", "updateIdentityProviderConfiguration", "identityProviderConfiguration")
			if get(c, "autoProvisionLearners") != true || get(c, "defaultAccount") != nil || str(c, "companyClaim") != "organization" {
				t.Fatalf("partial update: %v", d)
			}
			d = e.MustGQL(tok, `mutation($b: ID!, $i: ID!) { brands { updateIdentityProviderConfiguration(input: {
				brandId: $b, identityProviderId: $i, autoProvisionLearners: false }) {
				identityProviderConfiguration { autoProvisionLearners companyClaim } errors { label } } } }`,
				map[string]any{"b": brand, "i": idp})
			c = get(d, "brands", "updateIdentityProviderConfiguration", "identityProviderConfiguration")
			if get(c, "autoProvisionLearners") != false || str(c, "companyClaim") != "organization" {
				t.Fatalf("partial update 2: %v", d)
			}
		})

		t.Run("every bad reference is a labelled payload error and changes nothing", func(t *testing.T) {
			idp2 := e.CreateOIDCConnection(tok, "Okta", "okta")
			missing := "0190a0b0-0000-7000-8000-000000000000"
			before := e.MustGQL(tok, brandConfigsQuery, map[string]any{"id": brand})
			cases := []struct {
				name, req, brand, idp, account, want string
			}{
				{"update of a missing configuration", seedUpdateIdPConfiguration, brand, idp2, other, "identityProviderId"},
				{"unknown brand", seedUpdateIdPConfiguration, missing, idp, other, "brandId"},
				{"unknown identity provider", seedUpdateIdPConfiguration, brand, missing, other, "identityProviderId"},
				{"unknown account", seedUpdateIdPConfiguration, brand, idp, missing, "defaultAccountId"},
				{"create: unknown brand", seedCreateIdPConfiguration, missing, idp2, other, "brandId"},
				{"create: unknown identity provider", seedCreateIdPConfiguration, brand, missing, other, "identityProviderId"},
				{"create: unknown account", seedCreateIdPConfiguration, brand, idp2, missing, "defaultAccountId"},
				{"create: a brand id that is an account id", seedCreateIdPConfiguration, other, idp2, other, "brandId"},
			}
			for _, c := range cases {
				field := "updateIdentityProviderConfiguration"
				if c.req == seedCreateIdPConfiguration {
					field = "createIdentityProviderConfiguration"
				}
				d := e.MustGQL(tok, seedWith(c.req, c.brand, c.idp, c.account), nil)
				p, labels := brandsPayload(t, d, field)
				if strings.Join(labels, ",") != c.want || p["brand"] != nil {
					t.Errorf("%s: labels %v, payload %v", c.name, labels, p)
				}
			}
			after := e.MustGQL(tok, brandConfigsQuery, map[string]any{"id": brand})
			if fmt.Sprint(before) != fmt.Sprint(after) {
				t.Fatalf("configuration changed:\n%v\n%v", before, after)
			}
			d := e.MustGQL(tok, `mutation($b: ID!, $i: ID!) { brands { createIdentityProviderConfiguration(input: {
				brandId: $b, identityProviderId: $i, companyClaim: "  " }) { brand { id } errors { label code } } } }`,
				map[string]any{"b": brand, "i": idp2})
			if _, labels := brandsPayload(t, d, "createIdentityProviderConfiguration"); strings.Join(labels, ",") != "companyClaim" {
				t.Fatalf("blank companyClaim: %v", d)
			}
		})

		t.Run("remove", func(t *testing.T) {
			q := `mutation($b: ID!, $i: ID!) { brands { removeIdentityProviderConfiguration(input: {brandId: $b, identityProviderId: $i}) {
				brand { id identityProviderConfigurations { companyClaim } } errors { label code } } } }`
			d := e.MustGQL(tok, q, map[string]any{"b": brand, "i": idp})
			p, labels := brandsPayload(t, d, "removeIdentityProviderConfiguration")
			if len(labels) != 0 || len(get(p, "brand", "identityProviderConfigurations").([]any)) != 0 {
				t.Fatalf("remove: %v", p)
			}
			d = e.MustGQL(tok, q, map[string]any{"b": brand, "i": idp})
			if _, labels := brandsPayload(t, d, "removeIdentityProviderConfiguration"); strings.Join(labels, ",") != "identityProviderId" {
				t.Fatalf("remove twice: %v", d)
			}
		})

		t.Run("audit events", func(t *testing.T) {
			d := e.MustGQL(tok, `{ auditEvents(first: 100) { action targetId } }`, nil)
			seen := map[string]int{}
			for _, ev := range get(d, "auditEvents").([]any) {
				if str(ev, "targetId") == brand {
					seen[str(ev, "action")]++
				}
			}
			if seen["identity_provider_configuration.create"] != 1 || seen["identity_provider_configuration.update"] != 3 ||
				seen["identity_provider_configuration.remove"] != 1 {
				t.Fatalf("audit: %v", seen)
			}
		})

		t.Run("scopes", func(t *testing.T) {
			ro := e.Token(testAdminID, testAdminSecret, "graphql:read")
			r := e.GQL(ro, seedWith(seedCreateIdPConfiguration, brand, idp, other), nil)
			if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "FORBIDDEN" {
				t.Fatalf("read-only token: %s", r.Raw)
			}
			if r := e.GQL("", seedCreateIdPConfiguration, nil); r.Status != 401 {
				t.Fatalf("no token: %d %s", r.Status, r.Raw)
			}
		})
	})
}

// Concurrent updates of one brand all succeed: a versioned update that loses the race to
// another is run again from a fresh read (provision's transact) instead of answering CONFLICT.
// Each round races as many updates as transact runs a write at most, so every one is bound
// to succeed; on PostgreSQL the updates really interleave (SQLite runs them one at a time).
func TestConcurrentBrandUpdates(t *testing.T) {
	const rounds, racers = 12, 3
	eachDB(t, func(t *testing.T, e *testEnv) {
		tok := e.AdminToken()
		id := e.CreateBrand(tok, "Racing")
		for round := range rounds {
			var wg sync.WaitGroup
			start := make(chan struct{})
			answers := make([]*gqlResponse, racers)
			for i := range racers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					answers[i] = e.GQL(tok, `mutation($id: ID!, $name: String!) { updateBrand(input: {id: $id, name: $name}) {
						brand { name } errors { code message } } }`, map[string]any{"id": id, "name": fmt.Sprintf("Racing %d-%d", round, i)})
				}()
			}
			close(start)
			wg.Wait()
			for i, r := range answers {
				if r.Status != 200 || len(r.Errors) > 0 {
					t.Fatalf("round %d, update %d: status %d: %s", round, i, r.Status, r.Raw)
				}
				if errs := payloadErrors(t, r.Data, "updateBrand"); len(errs) > 0 {
					t.Fatalf("round %d, update %d: %v", round, i, errs)
				}
				if got, want := str(r.Data, "updateBrand", "brand", "name"), fmt.Sprintf("Racing %d-%d", round, i); got != want {
					t.Fatalf("round %d, update %d: brand named %q, want %q", round, i, got, want)
				}
			}
		}
		// Every update is in the audit log once: a run that lost was rolled back whole.
		d := e.MustGQL(tok, `{ auditEvents(first: 100) { action targetId } }`, nil)
		updates := 0
		for _, ev := range get(d, "auditEvents").([]any) {
			if str(ev, "action") == "brand.update" && str(ev, "targetId") == id {
				updates++
			}
		}
		if updates != rounds*racers {
			t.Fatalf("%d brand.update events, want %d", updates, rounds*racers)
		}
	})
}

// TestBrandConfigurationsReadDomainsOnce: brands list their configurations with one batch of
// queries, and the identity providers' domains are part of it. Before, each configuration's
// connection read its domains with a query of its own (N+1): the statements a request makes,
// counted from its trace, grew with the number of brands.
func TestBrandConfigurationsReadDomainsOnce(t *testing.T) {
	rcv := apptest.NewOTLPReceiver(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.URL)
	eachDB(t, func(t *testing.T, e *testEnv) {
		admin := e.AdminToken()
		const q = `{ brands(first: 100) { nodes { name identityProviderConfigurations { identityProvider { slug domains { domain } } } } } }`
		statements := func() (int, map[string]any) {
			t.Helper()
			if err := e.App.Tracing().Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			rcv.Reset()
			d := e.MustGQL(admin, q, nil)
			if err := e.App.Tracing().Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			spans, _ := rcv.Received()
			byID := map[string]*tracepb.Span{}
			for _, s := range spans {
				byID[string(s.GetSpanId())] = s
			}
			inRequest := func(s *tracepb.Span) bool { // not a background job's
				for p := byID[string(s.GetParentSpanId())]; p != nil; p = byID[string(p.GetParentSpanId())] {
					if p.GetKind() == tracepb.Span_SPAN_KIND_SERVER {
						return true
					}
				}
				return false
			}
			n := 0
			for _, s := range spans {
				if _, db := apptest.SpanAttr(s, "db.system.name"); db && s.GetKind() == tracepb.Span_SPAN_KIND_CLIENT &&
					s.GetName() != "sql.connector.connect" && inRequest(s) {
					n++
				}
			}
			return n, d
		}
		var counts []int
		for i := 0; i < 6; i++ {
			b := e.CreateBrand(admin, fmt.Sprintf("Portal %d", i))
			c := e.CreateOIDCConnection(admin, fmt.Sprintf("IdP %d", i), fmt.Sprintf("idp-%d", i))
			e.MustGQL(admin, `mutation($c: ID!, $d: String!) { addDomain(input: {connectionId: $c, domain: $d}) { errors { code } } }`,
				map[string]any{"c": c, "d": fmt.Sprintf("acme%d.example", i)})
			e.MustGQL(admin, `mutation($b: ID!, $c: ID!) { brands { createIdentityProviderConfiguration(input: {brandId: $b, identityProviderId: $c}) { errors { code } } } }`,
				map[string]any{"b": b, "c": c})
			n, d := statements()
			if got := str(d, "brands", "nodes", i, "identityProviderConfigurations", 0, "identityProvider", "domains", 0, "domain"); got != fmt.Sprintf("acme%d.example", i) {
				t.Fatalf("brand %d: %v", i, d)
			}
			counts = append(counts, n)
		}
		if counts[0] == 0 || counts[len(counts)-1] != counts[0] {
			t.Fatalf("statements per request with 1 to 6 brands: %v; want the same number whatever the brands", counts)
		}
	})
}

// TestBrandDerivedSlugTaken: createBrand without a slug derives one from the name; a name that
// derives another brand's slug ("Académie" after "Academie", since accents are dropped) was
// refused with "another brand in this workspace has this slug", about a field the caller never
// sent. It now says the slug came from the name, as createConnection does, and sending a slug
// succeeds; a slug the caller sent keeps the old message.
func TestBrandDerivedSlugTaken(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		tok := e.AdminToken()
		const create = `mutation($in: CreateBrandInput!) { createBrand(input: $in) { brand { slug } errors { label message code } } }`
		e.MustGQL(tok, create, map[string]any{"in": map[string]any{"name": "Academie Portal"}})
		for _, c := range []struct {
			in   map[string]any
			want string
		}{
			{map[string]any{"name": "Académie Portal"}, "is taken by another brand in this workspace: it was derived from the name; send a slug to choose another"},
			{map[string]any{"name": "Académie Portal", "slug": "academie-portal"}, "another brand in this workspace has this slug"},
		} {
			d := e.MustGQL(tok, create, map[string]any{"in": c.in})
			errs := payloadErrors(t, d, "createBrand")
			if len(errs) != 1 || str(errs[0], "label") != "slug" || str(errs[0], "code") != "TAKEN" || str(errs[0], "message") != c.want {
				t.Errorf("createBrand(%v): %v", c.in, d)
			}
		}
		d := e.MustGQL(tok, create, map[string]any{"in": map[string]any{"name": "Académie Portal", "slug": "academie-portal-2"}})
		if str(d, "createBrand", "brand", "slug") != "academie-portal-2" {
			t.Fatalf("chosen slug: %v", d)
		}
	})
}

// TestBrandDerivedSlugsOfNonLatinNames: createBrand without a slug, for names in other scripts
// (no ASCII letter or digit to derive a slug from), two per script: every brand is created, with
// "brand-" and the end of its id as its slug, as a connection's is. Before, each was refused
// with "slug cannot be derived from this name; give one".
func TestBrandDerivedSlugsOfNonLatinNames(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		tok := e.AdminToken()
		const create = `mutation($in: CreateBrandInput!) { createBrand(input: $in) { brand { name slug } errors { label message code } } }`
		slugs := map[string]bool{}
		for _, name := range []string{"東京アカデミー", "大阪アカデミー", "Ακαδημία", "Σχολή"} {
			d := e.MustGQL(tok, create, map[string]any{"in": map[string]any{"name": name}})
			slug := str(d, "createBrand", "brand", "slug")
			if len(payloadErrors(t, d, "createBrand")) > 0 || str(d, "createBrand", "brand", "name") != name || slugs[slug] ||
				!strings.HasPrefix(slug, "brand-") {
				t.Fatalf("createBrand(%q): %v (have %v)", name, d, slugs)
			}
			slugs[slug] = true
		}
		// An empty name is the name's error alone.
		d := e.MustGQL(tok, create, map[string]any{"in": map[string]any{"name": " "}})
		if errs := payloadErrors(t, d, "createBrand"); len(errs) != 1 || str(errs[0], "label") != "name" {
			t.Fatalf("createBrand(blank): %v", d)
		}
	})
}
