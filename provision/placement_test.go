package provision

import (
	"strings"
	"testing"

	"github.com/google/uuid"

	"gatehouse/models"
)

func TestPlace(t *testing.T) {
	acme := &models.Company{ID: uuid.New(), Name: "Acme"}
	acmeFirst := &models.Account{ID: uuid.New(), Name: "Acme First", Type: models.AccountCompany, CompanyID: &acme.ID}
	def := &models.Account{ID: uuid.New(), Name: "Default", Type: models.AccountIndividual}
	other := &models.Company{ID: uuid.New(), Name: "Other"}
	cases := []struct {
		name    string
		in      PlacementInput
		rule    PlacementRule
		account *models.Account
		explain string
	}{
		{"default account beats company match",
			PlacementInput{DefaultAccount: def, Claims: map[string]any{"company": "Acme"}, Company: acme, CompanyAccount: acmeFirst},
			RuleDefaultAccount, def, `default account "Default"`},
		{"company match",
			PlacementInput{Claims: map[string]any{"company": "Acme"}, Company: acme, CompanyAccount: acmeFirst},
			RuleCompanyMatch, acmeFirst, `first account "Acme First"`},
		{"company match on a configured claim",
			PlacementInput{CompanyClaim: "org", Claims: map[string]any{"org": []any{"", "Acme"}}, Company: acme, CompanyAccount: acmeFirst},
			RuleCompanyMatch, acmeFirst, `claim "org"`},
		{"the company looked up must match exactly (case)",
			PlacementInput{Claims: map[string]any{"company": "ACME"}, Company: acme, CompanyAccount: acmeFirst},
			RuleIndividualAccount, nil, `no company is named exactly "ACME"`},
		{"an account of another company does not count",
			PlacementInput{Claims: map[string]any{"company": "Other"}, Company: other, CompanyAccount: acmeFirst},
			RuleIndividualAccount, nil, "has no accounts"},
		{"company without accounts",
			PlacementInput{Claims: map[string]any{"company": "Acme"}, Company: acme},
			RuleIndividualAccount, nil, "has no accounts"},
		{"no claim", PlacementInput{Claims: nil}, RuleIndividualAccount, nil, `claim "company" is missing`},
		{"empty claim", PlacementInput{Claims: map[string]any{"company": ""}}, RuleIndividualAccount, nil, "missing, empty"},
		{"claim of the wrong type", PlacementInput{Claims: map[string]any{"company": true}}, RuleIndividualAccount, nil, "not text"},
		{"unknown company", PlacementInput{Claims: map[string]any{"company": "Nobody"}}, RuleIndividualAccount, nil, `named exactly "Nobody"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := Place(c.in)
			if p.Rule != c.rule || p.Account != c.account || !strings.Contains(p.Explanation, c.explain) {
				t.Fatalf("Place = %+v", p)
			}
			if c.rule == RuleIndividualAccount && !strings.Contains(p.Explanation, "new individual account") {
				t.Fatalf("explanation does not say what happens: %q", p.Explanation)
			}
		})
	}
}
