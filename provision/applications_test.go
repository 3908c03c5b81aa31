package provision

import (
	"testing"

	"gatehouse/models"
	"gatehouse/store/storetest"
)

// The id_token algorithm is checked here, not only by the GraphQL enum in front: another
// caller of the service (REST, the CLI, a future transport) must not store an algorithm no key
// can sign with, which would fail each of the application's sign-ins at the token endpoint.
func TestApplicationIDTokenAlgorithmIsValidated(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		e := newTestEnv(t, dbURL)
		brand := must(e.s.CreateBrand(e.ctx, BrandInput{Name: ptr("Portal")}))
		keys := e.count("signing_keys")
		isAlgError := func(err error) bool {
			es := models.UserErrors(err)
			return len(es) == 1 && es[0].Code == models.EINVALID && es[0].Field == "idTokenSignedResponseAlg"
		}
		for _, alg := range []models.IDTokenAlg{"HS256", "none", "", "es256"} {
			_, _, err := e.s.CreateApplication(e.ctx, ApplicationInput{BrandID: ptr(brand.ID.String()), Name: ptr("Portal app"),
				RedirectURIs: []string{"https://portal.example/callback"}, IDTokenSignedResponseAlg: ptr(alg)})
			if !isAlgError(err) {
				t.Fatalf("create with %q: %v", alg, err)
			}
		}
		if n := e.count("applications"); n != 0 {
			t.Fatalf("%d applications stored by refused creates", n)
		}
		app, _ := must2(e.s.CreateApplication(e.ctx, ApplicationInput{BrandID: ptr(brand.ID.String()), Name: ptr("Portal app"),
			RedirectURIs: []string{"https://portal.example/callback"}}))
		for _, alg := range []models.IDTokenAlg{"HS256", "RS512"} {
			if _, err := e.s.UpdateApplication(e.ctx, app.ID.String(), ApplicationInput{IDTokenSignedResponseAlg: ptr(alg)}); !isAlgError(err) {
				t.Fatalf("update to %q: %v", alg, err)
			}
		}
		got := must(e.s.Application(e.ctx, app.ID.String()))
		if got.IDTokenSignedResponseAlg != models.IDTokenES256 || got.Version != app.Version {
			t.Fatalf("after refused updates: %s, version %d (was %d)", got.IDTokenSignedResponseAlg, got.Version, app.Version)
		}
		if n := e.count("signing_keys"); n != keys {
			t.Fatalf("refused changes made signing keys: %d, was %d", n, keys)
		}
	})
}

// must2 returns a and b, or panics (failing the test) on a setup error.
func must2[A, B any](a A, b B, err error) (A, B) {
	if err != nil {
		panic(err)
	}
	return a, b
}
