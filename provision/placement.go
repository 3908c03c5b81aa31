package provision

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/google/uuid"

	"gatehouse/models"
	"gatehouse/store"
)

// PlacementRule names the rule that chose a new person's account.
type PlacementRule string

// The placement rules, in the order they are tried.
const (
	RuleDefaultAccount    PlacementRule = "DEFAULT_ACCOUNT"
	RuleCompanyMatch      PlacementRule = "COMPANY_MATCH"
	RuleIndividualAccount PlacementRule = "INDIVIDUAL_ACCOUNT"
)

// MarshalGQL writes the rule as a GraphQL enum value.
func (r PlacementRule) MarshalGQL(w io.Writer) { fmt.Fprint(w, strconv.Quote(string(r))) }

// UnmarshalGQL reads a GraphQL enum value.
func (r *PlacementRule) UnmarshalGQL(v any) error {
	s, _ := v.(string)
	switch PlacementRule(s) {
	case RuleDefaultAccount, RuleCompanyMatch, RuleIndividualAccount:
		*r = PlacementRule(s)
		return nil
	}
	return fmt.Errorf("%q is not a valid PlacementRule", s)
}

// PlacementInput is everything placement depends on. The caller looks up Company (the
// workspace's company named like the claim, if any) and CompanyAccount (that company's
// oldest account, if any); Place itself decides whether they match.
type PlacementInput struct {
	// DefaultAccount is the configuration's default account, nil when none is set.
	DefaultAccount *models.Account
	// CompanyClaim names the claim that carries the company name.
	CompanyClaim   string
	Claims         map[string]any
	Company        *models.Company
	CompanyAccount *models.Account
}

// Placement is the account a new person lands in and why. Account is nil for
// RuleIndividualAccount: a new individual account is created for the person.
type Placement struct {
	Rule        PlacementRule
	Account     *models.Account
	Explanation string
	// CompanyName is the company claim's value ("" when absent).
	CompanyName string
}

// CompanyClaimValue returns the text of the named claim: a string, or the first string of a
// list (SAML attributes are multi-valued). ok is false when the claim is absent, empty or
// not text.
func CompanyClaimValue(claim string, claims map[string]any) (value string, ok bool) {
	switch v := claims[claim].(type) {
	case string:
		return v, v != ""
	case []any:
		for _, e := range v {
			if s, isStr := e.(string); isStr && s != "" {
				return s, true
			}
		}
	case []string:
		for _, s := range v {
			if s != "" {
				return s, true
			}
		}
	}
	return "", false
}

// Place applies the placement rule, in this order: (1) the configuration's default account
// when set; (2) otherwise the oldest account of the company whose name exactly
// (case-sensitively) equals the company claim; (3) otherwise a new individual account. It is a
// pure function of its input.
func Place(in PlacementInput) Placement {
	claim := in.CompanyClaim
	if claim == "" {
		claim = models.DefaultCompanyClaim
	}
	value, hasClaim := CompanyClaimValue(claim, in.Claims)
	p := Placement{CompanyName: value}
	shown := models.Clip(value, 2*models.MaxNameLength) // longer than any company name: it cannot match anyway
	if in.DefaultAccount != nil {
		p.Rule, p.Account = RuleDefaultAccount, in.DefaultAccount
		p.Explanation = fmt.Sprintf("The configuration's default account %q is set; it takes precedence over company matching.", in.DefaultAccount.Name)
		return p
	}
	p.Rule = RuleIndividualAccount
	const individual = " A new individual account is created for the person."
	switch {
	case !hasClaim:
		p.Explanation = fmt.Sprintf("No default account is set and the claim %q is missing, empty or not text, so no company can match.", claim) + individual
	case in.Company == nil || in.Company.Name != value:
		p.Explanation = fmt.Sprintf("No default account is set and no company is named exactly %q (claim %q; names must match exactly, including case).", shown, claim) + individual
	case in.CompanyAccount == nil || in.CompanyAccount.CompanyID == nil || *in.CompanyAccount.CompanyID != in.Company.ID:
		p.Explanation = fmt.Sprintf("No default account is set; company %q matches claim %q but has no accounts.", in.Company.Name, claim) + individual
	default:
		p.Rule, p.Account = RuleCompanyMatch, in.CompanyAccount
		p.Explanation = fmt.Sprintf("No default account is set; claim %q is %q, which exactly matches company %q, so its first account %q is chosen.",
			claim, value, in.Company.Name, in.CompanyAccount.Name)
	}
	return p
}

// place gathers the input of Place for a configuration (nil: none, so defaults apply) and
// applies it. It only reads.
func (s *Service) place(ctx context.Context, ws uuid.UUID, cfg *models.IdentityProviderConfiguration, claims map[string]any) (Placement, error) {
	in := PlacementInput{CompanyClaim: models.DefaultCompanyClaim, Claims: claims}
	if cfg != nil {
		in.CompanyClaim = cfg.CompanyClaim
		if cfg.DefaultAccountID != nil {
			a, err := s.store.Account(ctx, ws, *cfg.DefaultAccountID)
			if err != nil {
				return Placement{}, err
			}
			in.DefaultAccount = a
			return Place(in), nil
		}
	}
	// A claim that breaks the input text rule cannot name a company (company names obey it),
	// so it is not looked up.
	if name, ok := CompanyClaimValue(in.CompanyClaim, claims); ok && models.CheckText("claims", name) == nil {
		c, err := s.store.CompanyByName(ctx, ws, name)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return Placement{}, err
		default:
			in.Company = c
			a, err := s.store.OldestAccountOf(ctx, ws, c.ID)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return Placement{}, err
			}
			in.CompanyAccount = a
		}
	}
	return Place(in), nil
}

// SimulatePlacement answers which account a person with these claims would land in if they
// were auto-provisioned at the brand through the identity provider (a connection id), and
// why. It writes nothing.
func (s *Service) SimulatePlacement(ctx context.Context, brandID, identityProviderID string, claims map[string]any) (*Placement, error) {
	p, err := s.authorize(ctx, accessRead)
	if err != nil {
		return nil, err
	}
	in := IdentityProviderConfigurationInput{BrandID: brandID, IdentityProviderID: identityProviderID}
	t, err := s.loadConfigTargets(ctx, p.WorkspaceID, in)
	if err != nil {
		return nil, firstError(err)
	}
	cfg, err := s.store.IdentityProviderConfiguration(ctx, p.WorkspaceID, t.brand.ID, t.conn.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, configMissingError(in)
	}
	if err != nil {
		return nil, internal("simulate placement", err)
	}
	pl, err := s.place(ctx, p.WorkspaceID, cfg, claims)
	if err != nil {
		return nil, internal("simulate placement", err)
	}
	return &pl, nil
}

// firstError reduces a list of user errors to its first one, for surfaces (query arguments)
// that show a single error.
func firstError(err error) error {
	var es models.Errors
	if errors.As(err, &es) && len(es) > 0 {
		return es[0]
	}
	return err
}
