package rest

import (
	"net/http"
	"time"

	"gatehouse/provision"
)

// registerSAML mounts the SAML service provider key rotation (a Gatehouse extension): list the
// keys, start a rotation (publish a next key), promote it, retire the previous key.
func (h *Handler) registerSAML(mux *http.ServeMux) {
	const base = "/api/v1/sso/sp-keys"
	mux.Handle("GET "+base, h.handle(h.listSPKeys))
	mux.Handle("POST "+base+"/rotate", h.handle(h.rotateSPKey))
	mux.Handle("POST "+base+"/promote", h.handle(h.promoteSPKey))
	mux.Handle("DELETE "+base+"/previous", h.handle(h.retireSPKey))
	h.registerTestSignIn(mux)
}

func spKeyJSON(k *provision.SPKeyInfo) map[string]any {
	return map[string]any{"role": k.Role, "certificate": k.CertificatePEM, "fingerprintSha256": k.FingerprintSHA256,
		"notAfter": k.NotAfter.UTC().Format(time.RFC3339), "createdAt": k.CreatedAt.UTC().Format(time.RFC3339)}
}

func (h *Handler) spKeysBody(r *http.Request) (map[string]any, error) {
	ks, err := h.svc.SPKeyInfos(r.Context())
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, len(ks))
	for i, k := range ks {
		out[i] = spKeyJSON(k)
	}
	return map[string]any{"keys": out}, nil
}

func (h *Handler) listSPKeys(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	body, err := h.spKeysBody(r)
	return http.StatusOK, body, err
}

func (h *Handler) rotateSPKey(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	k, err := h.svc.StartSPKeyRotation(r.Context())
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, map[string]any{"key": spKeyJSON(k)}, nil
}

func (h *Handler) promoteSPKey(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	if err := h.svc.PromoteSPKey(r.Context()); err != nil {
		return 0, nil, err
	}
	body, err := h.spKeysBody(r)
	return http.StatusOK, body, err
}

func (h *Handler) retireSPKey(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	return http.StatusNoContent, nil, h.svc.RetireSPKey(r.Context())
}

// registerTestSignIn mounts the connection test sign-in (issue 10, item 7).
func (h *Handler) registerTestSignIn(mux *http.ServeMux) {
	const base = "/api/v1/sso/connections/{id}/test-sign-in"
	mux.Handle("POST "+base, h.handle(h.startTestSignIn))
	mux.Handle("GET "+base+"/{testId}", h.handle(h.getTestSignIn))
}

func (h *Handler) startTestSignIn(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	var body struct {
		BrandID *string `json:"brandId"`
	}
	if r.ContentLength != 0 {
		if err := decode(r, &body); err != nil {
			return 0, nil, err
		}
	}
	st, err := h.svc.StartTestSignIn(r.Context(), r.PathValue("id"), body.BrandID)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, map[string]any{"id": st.Test.ID.String(), "url": st.URL,
		"expiresAt": st.Test.ExpiresAt.UTC().Format(time.RFC3339)}, nil
}

func (h *Handler) getTestSignIn(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	t, err := h.svc.TestSignIn(r.Context(), r.PathValue("id"), r.PathValue("testId"))
	if err != nil {
		return 0, nil, err
	}
	out := map[string]any{"id": t.ID.String(), "status": t.Status, "identity": nil, "decision": nil, "error": nil,
		"warnings": provision.WarningsOf(t), "expiresAt": t.ExpiresAt.UTC().Format(time.RFC3339), "createdAt": t.CreatedAt.UTC().Format(time.RFC3339)}
	if res := provision.ResultOf(t); res != nil {
		if res.Identity != nil {
			out["identity"] = res.Identity
		}
		if res.Decision != nil {
			out["decision"] = res.Decision
		}
	}
	if t.Error != "" {
		out["error"] = t.Error
	}
	return http.StatusOK, out, nil
}
