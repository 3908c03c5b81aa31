package rest

import (
	"net/http"
	"time"

	"gatehouse/provision"
)

// registerSigningKeys mounts the rotation of the token signing keys (a Gatehouse extension,
// platform admin only): list the keys, start a rotation (publish a next key), promote it,
// retire the previous key. The steps are provision's (StartSigningKeyRotation and after).
func (h *Handler) registerSigningKeys(mux *http.ServeMux) {
	const base = "/api/v1/oauth/signing-keys"
	mux.Handle("GET "+base, h.handle(h.listSigningKeys))
	mux.Handle("POST "+base+"/rotate", h.handle(h.rotateSigningKey))
	mux.Handle("POST "+base+"/promote", h.handle(h.promoteSigningKey))
	mux.Handle("DELETE "+base+"/previous", h.handle(h.retireSigningKey))
}

func signingKeyJSON(k *provision.SigningKeyInfo) map[string]any {
	out := map[string]any{"kid": k.Kid, "role": k.Role, "algorithm": k.Algorithm, "fingerprintSha256": k.FingerprintSHA256,
		"createdAt": k.CreatedAt.UTC().Format(time.RFC3339)}
	if k.RetiredAt != nil {
		out["retiredAt"] = k.RetiredAt.UTC().Format(time.RFC3339)
	}
	return out
}

func (h *Handler) signingKeysBody(r *http.Request) (map[string]any, error) {
	ks, err := h.svc.SigningKeyInfos(r.Context())
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, len(ks))
	for i, k := range ks {
		out[i] = signingKeyJSON(k)
	}
	return map[string]any{"keys": out}, nil
}

func (h *Handler) listSigningKeys(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	body, err := h.signingKeysBody(r)
	return http.StatusOK, body, err
}

// rotateSigningKey answers the next ES256 key as "key" (what it answered before RS256 keys
// existed) and, as "keys", every key after the step.
func (h *Handler) rotateSigningKey(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	ks, err := h.svc.StartSigningKeyRotation(r.Context())
	if err != nil {
		return 0, nil, err
	}
	body, err := h.signingKeysBody(r)
	if err != nil {
		return 0, nil, err
	}
	body["key"] = signingKeyJSON(ks[0])
	return http.StatusCreated, body, nil
}

func (h *Handler) promoteSigningKey(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	if err := h.svc.PromoteSigningKey(r.Context()); err != nil {
		return 0, nil, err
	}
	body, err := h.signingKeysBody(r)
	return http.StatusOK, body, err
}

func (h *Handler) retireSigningKey(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	return http.StatusNoContent, nil, h.svc.RetireSigningKey(r.Context())
}
