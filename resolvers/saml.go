package resolvers

import (
	"context"
	"strings"

	"gatehouse/graph/model"
	"gatehouse/models"
	"gatehouse/provision"
)

func (r *Resolver) startTestSignIn(ctx context.Context, connectionID string, brandID *string) (*model.StartTestSignInPayload, error) {
	st, err := r.Svc.StartTestSignIn(ctx, connectionID, brandID)
	errs, err := payloadErrors(err)
	if err != nil {
		return nil, err
	}
	out := &model.StartTestSignInPayload{Errors: errs}
	if st != nil {
		id := st.Test.ID.String()
		out.ID, out.URL, out.ExpiresAt = &id, &st.URL, &st.Test.ExpiresAt
	}
	return out, nil
}

// testSignIn is null when the ids name no test, as the schema says and as every query of one
// object answers: a malformed id names none either (provision refuses it with INVALID for
// REST, naming the path's testId, which is no GraphQL argument).
func (r *Resolver) testSignIn(ctx context.Context, connectionID, id string) (*models.TestSignIn, error) {
	t, err := r.Svc.TestSignIn(ctx, connectionID, id)
	switch models.ErrorCode(err) {
	case models.ENOTFOUND, models.EINVALID:
		return nil, nil
	}
	return t, err
}

func testSignInStatus(t *models.TestSignIn) model.TestSignInStatus {
	return model.TestSignInStatus(strings.ToUpper(t.Status))
}

func testSignInIdentity(t *models.TestSignIn) *provision.TestIdentity {
	if res := provision.ResultOf(t); res != nil && res.Identity != nil {
		if res.Identity.Claims == nil {
			res.Identity.Claims = map[string]any{}
		}
		return res.Identity
	}
	return nil
}

func testSignInDecision(t *models.TestSignIn) *provision.TestDecision {
	if res := provision.ResultOf(t); res != nil {
		return res.Decision
	}
	return nil
}

func testSignInError(t *models.TestSignIn) *string {
	if t.Error == "" {
		return nil
	}
	return &t.Error
}

// spKeysPayload answers a rotation step with every key after it, or the step's user error.
func (r *Resolver) spKeysPayload(ctx context.Context, step func(context.Context) error) (*model.SpKeysPayload, error) {
	errs, err := payloadErrors(step(ctx))
	if err != nil {
		return nil, err
	}
	out := &model.SpKeysPayload{Keys: []*provision.SPKeyInfo{}, Errors: errs}
	if len(errs) == 0 {
		if out.Keys, err = r.Svc.SPKeyInfos(ctx); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// signingKeysPayload answers a signing key rotation step as spKeysPayload does.
func (r *Resolver) signingKeysPayload(ctx context.Context, step func(context.Context) error) (*model.SigningKeysPayload, error) {
	errs, err := payloadErrors(step(ctx))
	if err != nil {
		return nil, err
	}
	out := &model.SigningKeysPayload{Keys: []*provision.SigningKeyInfo{}, Errors: errs}
	if len(errs) == 0 {
		if out.Keys, err = r.Svc.SigningKeyInfos(ctx); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func signingKeyRole(k *provision.SigningKeyInfo) model.SigningKeyRole {
	return model.SigningKeyRole(strings.ToUpper(k.Role))
}

func spKeyRole(k *provision.SPKeyInfo) model.SpKeyRole {
	return model.SpKeyRole(strings.ToUpper(k.Role))
}
