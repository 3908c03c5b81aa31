package rest

import (
	"context"
	"net/http"
	"time"

	"gatehouse/models"
	"gatehouse/provision"
)

// registerSSO mounts the document's "SSO Connections" to "SAML Service Provider Metadata"
// sections.
func (h *Handler) registerSSO(mux *http.ServeMux) {
	const base = "/api/v1/sso/connections"
	mux.Handle("POST "+base, h.handle(h.createConnection))
	mux.Handle("GET "+base, h.handle(h.listConnections))
	mux.Handle("GET "+base+"/{id}", h.handle(h.getConnection))
	mux.Handle("PUT "+base+"/{id}", h.handle(h.updateConnection))
	mux.Handle("DELETE "+base+"/{id}", h.handle(h.deleteConnection))
	mux.Handle("POST "+base+"/{id}/test", h.handle(h.testConnection))
	mux.Handle("POST "+base+"/{id}/activate", h.handle(h.activateConnection))
	mux.Handle("POST "+base+"/{id}/deactivate", h.handle(h.deactivateConnection))
	mux.Handle("POST "+base+"/{id}/refresh-certificates", h.handle(h.refreshCertificates))
	mux.Handle("GET "+base+"/{id}/domains", h.handle(h.listDomains))
	mux.Handle("POST "+base+"/{id}/domains", h.handle(h.addDomain))
	mux.Handle("PUT "+base+"/{id}/domains/{domain_id}/verify", h.handle(h.verifyDomain))
	mux.Handle("POST "+base+"/{id}/domains/{domain_id}/set-primary", h.handle(h.setPrimaryDomain))
	mux.Handle("DELETE "+base+"/{id}/domains/{domain_id}", h.handle(h.removeDomain))
	mux.Handle("GET /api/v1/sso/sp-metadata", h.handle(h.spMetadata))
	h.registerSAML(mux)
	h.registerSigningKeys(mux)
}

// connectionBody is the create and update request. Omitted fields are nil: required on create,
// unchanged on update.
type connectionBody struct {
	Name       *string `json:"name"`
	Slug       *string `json:"slug"`
	Protocol   *string `json:"protocol"`
	OIDCConfig *struct {
		IssuerURL       *string  `json:"issuerUrl"`
		ClientID        *string  `json:"clientId"`
		ClientSecret    *string  `json:"clientSecret"`
		DiscoveryURL    *string  `json:"discoveryUrl"`
		Scopes          []string `json:"scopes"`
		IdentifierClaim *string  `json:"identifierClaim"`
		OwnCallback     *bool    `json:"ownCallback"`
		// RequireVerifiedEmail: take the IdP's email only when it says email_verified true.
		RequireVerifiedEmail *bool `json:"requireVerifiedEmail"`
		// ClientAuthMethod: client_secret or private_key_jwt.
		ClientAuthMethod *string `json:"clientAuthMethod"`
	} `json:"oidcConfig"`
	SAMLConfig *struct {
		EntityID *string `json:"entityId"`
		SSOURL   *string `json:"ssoUrl"`
		// SSOBinding: http_redirect or http_post.
		SSOBinding       *string        `json:"ssoBinding"`
		Certificate      *string        `json:"certificate"`
		SignRequests     *bool          `json:"signRequests"`
		AttributeMapping map[string]any `json:"attributeMapping"`
		MetadataURL      *string        `json:"metadataUrl"`
		OwnEntityID      *bool          `json:"ownEntityId"`
		// RefreshCertificatesFromMetadata: the certificates follow MetadataURL.
		RefreshCertificatesFromMetadata *bool `json:"refreshCertificatesFromMetadata"`
		// MetadataXML: the IdP's metadata document, read for what the rest leaves out.
		MetadataXML *string `json:"metadataXml"`
		// AcceptSHA1Signatures: responses signed with SHA-1 are accepted.
		AcceptSHA1Signatures *bool `json:"acceptSha1Signatures"`
	} `json:"samlConfig"`
	JITProvisioning *bool   `json:"jitProvisioning"`
	DefaultRole     *string `json:"defaultRole"`
	// JITVerifiedDomainsOnly: accounts are provisioned only for emails on verified domains.
	JITVerifiedDomainsOnly *bool `json:"jitVerifiedDomainsOnly"`
}

func (b *connectionBody) input() provision.ConnectionInput {
	in := provision.ConnectionInput{Name: b.Name, Slug: b.Slug, JITProvisioning: b.JITProvisioning, DefaultRole: b.DefaultRole,
		JITVerifiedDomainsOnly: b.JITVerifiedDomainsOnly}
	if b.Protocol != nil {
		p := models.Protocol(*b.Protocol)
		in.Protocol = &p
	}
	if o := b.OIDCConfig; o != nil {
		in.OIDC = &provision.OIDCConfigInput{IssuerURL: o.IssuerURL, ClientID: o.ClientID,
			ClientSecret: o.ClientSecret, DiscoveryURL: o.DiscoveryURL, Scopes: o.Scopes, IdentifierClaim: o.IdentifierClaim,
			OwnCallback: o.OwnCallback, RequireVerifiedEmail: o.RequireVerifiedEmail, ClientAuthMethod: o.ClientAuthMethod}
	}
	if sm := b.SAMLConfig; sm != nil {
		in.SAML = &provision.SAMLConfigInput{EntityID: sm.EntityID, SSOURL: sm.SSOURL, SSOBinding: sm.SSOBinding, Certificate: sm.Certificate,
			SignRequests: sm.SignRequests, AttributeMapping: sm.AttributeMapping, MetadataURL: sm.MetadataURL, OwnEntityID: sm.OwnEntityID,
			RefreshCertificatesFromMetadata: sm.RefreshCertificatesFromMetadata, MetadataXML: sm.MetadataXML,
			AcceptSHA1Signatures: sm.AcceptSHA1Signatures}
	}
	return in
}

type oidcJSON struct {
	IssuerURL       string   `json:"issuerUrl"`
	ClientID        string   `json:"clientId"`
	HasClientSecret bool     `json:"hasClientSecret"`
	DiscoveryURL    string   `json:"discoveryUrl,omitempty"`
	Scopes          []string `json:"scopes"`
	IdentifierClaim string   `json:"identifierClaim"`
	// OwnCallback: the connection has its own redirect URI (CallbackURL).
	OwnCallback bool `json:"ownCallback"`
	// RequireVerifiedEmail: the IdP's email is taken only when it says email_verified true.
	RequireVerifiedEmail bool `json:"requireVerifiedEmail"`
	// CallbackURL is the redirect URI to register at the identity provider.
	CallbackURL string `json:"callbackUrl"`
	// ClientAuthMethod is client_secret or private_key_jwt; ClientJWKSURL is where the IdP
	// reads the keys that sign the latter's client assertions.
	ClientAuthMethod string `json:"clientAuthMethod"`
	ClientJWKSURL    string `json:"clientJwksUrl"`
}

type samlJSON struct {
	EntityID string `json:"entityId"`
	SSOURL   string `json:"ssoUrl"`
	// SSOBinding is http_redirect or http_post, the binding of SSOURL.
	SSOBinding       string         `json:"ssoBinding"`
	Certificate      string         `json:"certificate"`
	SignRequests     bool           `json:"signRequests"`
	AttributeMapping map[string]any `json:"attributeMapping"`
	MetadataURL      string         `json:"metadataUrl,omitempty"`
	// OwnEntityID, SPEntityID, SPMetadataURL and ACSURL: the service provider to register at
	// the identity provider for this connection.
	OwnEntityID   bool   `json:"ownEntityId"`
	SPEntityID    string `json:"spEntityId"`
	SPMetadataURL string `json:"spMetadataUrl"`
	ACSURL        string `json:"acsUrl"`
	// Certificates and CertificateExpiresAt: the IdP certificates, for their expiry.
	Certificates         []samlCertificateJSON `json:"certificates"`
	CertificateExpiresAt *time.Time            `json:"certificateExpiresAt,omitempty"`
	// RefreshCertificatesFromMetadata, MetadataCheckedAt and MetadataProblem: the certificates
	// follow the metadata URL, and how its last read went.
	RefreshCertificatesFromMetadata bool       `json:"refreshCertificatesFromMetadata"`
	MetadataCheckedAt               *time.Time `json:"metadataCheckedAt,omitempty"`
	MetadataProblem                 *string    `json:"metadataProblem,omitempty"`
	// AcceptSHA1Signatures: responses signed with SHA-1 are accepted.
	AcceptSHA1Signatures bool `json:"acceptSha1Signatures"`
}

type samlCertificateJSON struct {
	Subject           string    `json:"subject"`
	FingerprintSHA256 string    `json:"fingerprintSha256"`
	NotBefore         time.Time `json:"notBefore"`
	NotAfter          time.Time `json:"notAfter"`
}

type connectionJSON struct {
	ID              string    `json:"id"`
	Name            string    `json:"name"`
	Slug            string    `json:"slug"`
	Protocol        string    `json:"protocol"`
	Status          string    `json:"status"`
	OIDCConfig      *oidcJSON `json:"oidcConfig,omitempty"`
	SAMLConfig      *samlJSON `json:"samlConfig,omitempty"`
	JITProvisioning bool      `json:"jitProvisioning"`
	DefaultRole     string    `json:"defaultRole"`
	// JITVerifiedDomainsOnly: accounts are provisioned only for emails on verified domains.
	JITVerifiedDomainsOnly bool          `json:"jitVerifiedDomainsOnly"`
	Domains                *[]domainJSON `json:"domains,omitempty"`
	CreatedAt              time.Time     `json:"createdAt"`
	UpdatedAt              time.Time     `json:"updatedAt"`
}

// connectionOf encodes a connection; the client secret is never part of it.
func (h *Handler) connectionOf(c *models.Connection) connectionJSON {
	out := connectionJSON{ID: c.ID.String(), Name: c.Name, Slug: c.Slug, Protocol: string(c.Protocol),
		Status: string(c.Status), JITProvisioning: c.JITProvisioning, DefaultRole: c.DefaultRole,
		JITVerifiedDomainsOnly: c.JITVerifiedDomainsOnly,
		CreatedAt:              c.CreatedAt, UpdatedAt: c.UpdatedAt}
	if o := h.svc.OIDCConfig(c); o != nil {
		out.OIDCConfig = &oidcJSON{IssuerURL: o.IssuerURL, ClientID: o.ClientID, HasClientSecret: o.HasClientSecret,
			Scopes: o.Scopes, IdentifierClaim: o.IdentifierClaim, OwnCallback: o.OwnCallback, RequireVerifiedEmail: o.RequireVerifiedEmail,
			CallbackURL:      o.CallbackURL,
			ClientAuthMethod: string(o.ClientAuthMethod), ClientJWKSURL: o.ClientJWKSURL}
		if o.DiscoveryURL != nil {
			out.OIDCConfig.DiscoveryURL = *o.DiscoveryURL
		}
	}
	if sm := h.svc.SAMLConfig(c); sm != nil {
		out.SAMLConfig = &samlJSON{EntityID: sm.EntityID, SSOURL: sm.SSOURL, SSOBinding: string(sm.SSOBinding), Certificate: sm.Certificate,
			SignRequests: sm.SignRequests, AttributeMapping: sm.AttributeMapping, OwnEntityID: sm.OwnEntityID,
			SPEntityID: sm.SPEntityID, SPMetadataURL: sm.SPMetadataURL, ACSURL: sm.ACSURL,
			Certificates: make([]samlCertificateJSON, len(sm.Certificates)), CertificateExpiresAt: sm.CertificateExpiresAt,
			RefreshCertificatesFromMetadata: sm.RefreshCertificatesFromMetadata, MetadataCheckedAt: sm.MetadataCheckedAt,
			MetadataProblem: sm.MetadataProblem, AcceptSHA1Signatures: sm.AcceptSHA1Signatures}
		for i, c := range sm.Certificates {
			out.SAMLConfig.Certificates[i] = samlCertificateJSON(c)
		}
		if sm.MetadataURL != nil {
			out.SAMLConfig.MetadataURL = *sm.MetadataURL
		}
	}
	if c.Domains != nil {
		ds := make([]domainJSON, len(c.Domains))
		for i, d := range c.Domains {
			ds[i] = domainOf(d)
		}
		out.Domains = &ds
	}
	return out
}

type domainJSON struct {
	ID                 string     `json:"id"`
	Domain             string     `json:"domain"`
	Status             string     `json:"status"`
	VerificationMethod string     `json:"verificationMethod"`
	VerificationToken  string     `json:"verificationToken"`
	IsPrimary          bool       `json:"isPrimary"`
	FailureReason      string     `json:"failureReason,omitempty"`
	VerifiedAt         *time.Time `json:"verifiedAt,omitempty"`
	LastCheckedAt      *time.Time `json:"lastCheckedAt,omitempty"`
	CreatedAt          time.Time  `json:"createdAt"`
	UpdatedAt          time.Time  `json:"updatedAt"`
}

func domainOf(d *models.Domain) domainJSON {
	return domainJSON{ID: d.ID.String(), Domain: d.Name, Status: string(d.Status), VerificationMethod: d.VerificationMethod,
		VerificationToken: d.VerificationToken, IsPrimary: d.IsPrimary, FailureReason: d.FailureReason,
		VerifiedAt: d.VerifiedAt, LastCheckedAt: d.LastCheckedAt, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt}
}

// domainResponse is {"domain": …} plus the proof to publish: "dnsRecord" for dns-txt (as the
// document shows), "httpsFile" for https-file.
func domainResponse(d *models.Domain) map[string]any {
	out := map[string]any{"domain": domainOf(d)}
	if r := d.DNSRecord(); r != nil {
		out["dnsRecord"] = map[string]string{"recordType": r.RecordType, "name": r.Name, "value": r.Value}
	}
	if f := d.HTTPSFile(); f != nil {
		out["httpsFile"] = map[string]string{"url": f.URL, "contents": f.Contents}
	}
	return out
}

func (h *Handler) createConnection(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var b connectionBody
	if err := decode(r, &b); err != nil {
		return 0, nil, err
	}
	c, err := h.svc.CreateConnection(r.Context(), b.input())
	if err != nil {
		return 0, nil, err
	}
	c.Domains = []*models.Domain{}
	return http.StatusCreated, map[string]any{"connection": h.connectionOf(c)}, nil
}

func (h *Handler) listConnections(w http.ResponseWriter, r *http.Request) (int, any, error) {
	pg, err := pageOf(r)
	if err != nil {
		return 0, nil, err
	}
	q := r.URL.Query()
	l, err := h.svc.ListConnections(r.Context(), provision.ConnectionFilter{Protocol: q.Get("protocol"),
		Status: q.Get("status"), Name: q.Get("name")}, pg.Page, pg.PageSize)
	if err != nil {
		return 0, nil, err
	}
	cs := make([]connectionJSON, len(l.Connections))
	for i, c := range l.Connections {
		cs[i] = h.connectionOf(c)
	}
	return http.StatusOK, map[string]any{"connections": cs, "page": l.Page, "pageSize": l.PageSize, "total": l.Total}, nil
}

func (h *Handler) getConnection(w http.ResponseWriter, r *http.Request) (int, any, error) {
	c, err := h.svc.GetConnection(r.Context(), r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"connection": h.connectionOf(c)}, nil
}

func (h *Handler) updateConnection(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var b connectionBody
	if err := decode(r, &b); err != nil {
		return 0, nil, err
	}
	if _, err := h.svc.UpdateConnection(r.Context(), r.PathValue("id"), b.input()); err != nil {
		return 0, nil, err
	}
	return h.getConnection(w, r)
}

func (h *Handler) deleteConnection(w http.ResponseWriter, r *http.Request) (int, any, error) {
	if _, err := h.svc.DeleteConnection(r.Context(), r.PathValue("id")); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

func (h *Handler) testConnection(w http.ResponseWriter, r *http.Request) (int, any, error) {
	t, err := h.svc.TestConnection(r.Context(), r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{
		"success": t.Success,
		"details": omitNil(map[string]any{"discoveryValid": t.DiscoveryValid, "jwksValid": t.JWKSValid,
			"certificateValid": t.CertificateValid, "ssoUrlValid": t.SSOURLValid, "metadataValid": t.MetadataValid,
			"clientAuthenticationValid": t.ClientAuthenticationValid,
			"latencyMs":                 t.LatencyMs}),
		"problems": t.Problems,
		"warnings": t.Warnings,
		"status":   t.Connection.Status,
	}, nil
}

// omitNil drops the checks that do not apply to the connection's protocol.
func omitNil(m map[string]any) map[string]any {
	for k, v := range m {
		if b, ok := v.(*bool); ok && b == nil {
			delete(m, k)
		}
	}
	return m
}

func (h *Handler) activateConnection(w http.ResponseWriter, r *http.Request) (int, any, error) {
	c, err := h.svc.ActivateConnection(r.Context(), r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	return h.oneConnection(r.Context(), http.StatusOK, c)
}

func (h *Handler) deactivateConnection(w http.ResponseWriter, r *http.Request) (int, any, error) {
	c, err := h.svc.DeactivateConnection(r.Context(), r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	return h.oneConnection(r.Context(), http.StatusOK, c)
}

// oneConnection answers {"connection": …} with the connection's domains, as every answer that
// carries a connection does (the document's "full connection including associated domains"):
// a lifecycle step's service call returns the connection without them.
func (h *Handler) oneConnection(ctx context.Context, status int, c *models.Connection) (int, any, error) {
	if _, err := h.svc.ConnectionDomains(ctx, c); err != nil {
		return 0, nil, err
	}
	return status, map[string]any{"connection": h.connectionOf(c)}, nil
}

func (h *Handler) refreshCertificates(w http.ResponseWriter, r *http.Request) (int, any, error) {
	res, err := h.svc.RefreshSAMLCertificates(r.Context(), r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	if _, err := h.svc.ConnectionDomains(r.Context(), res.Connection); err != nil {
		return 0, nil, err
	}
	out := map[string]any{"connection": h.connectionOf(res.Connection), "changed": res.Changed,
		"added": append([]string{}, res.Added...), "removed": append([]string{}, res.Removed...)}
	if p := res.Reported(); p != "" {
		out["problem"] = p
	}
	return http.StatusOK, out, nil
}

func (h *Handler) listDomains(w http.ResponseWriter, r *http.Request) (int, any, error) {
	c, err := h.svc.GetConnection(r.Context(), r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	ds := make([]domainJSON, len(c.Domains))
	for i, d := range c.Domains {
		ds[i] = domainOf(d)
	}
	return http.StatusOK, map[string]any{"domains": ds}, nil
}

func (h *Handler) addDomain(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var b struct {
		Domain             string `json:"domain"`
		VerificationMethod string `json:"verificationMethod"`
	}
	if err := decode(r, &b); err != nil {
		return 0, nil, err
	}
	d, err := h.svc.AddDomain(r.Context(), r.PathValue("id"), provision.DomainInput{Domain: b.Domain, VerificationMethod: b.VerificationMethod})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, domainResponse(d), nil
}

func (h *Handler) verifyDomain(w http.ResponseWriter, r *http.Request) (int, any, error) {
	d, ok, err := h.svc.VerifyDomain(r.Context(), r.PathValue("id"), r.PathValue("domain_id"))
	if err != nil {
		return 0, nil, err
	}
	out := domainResponse(d)
	out["success"] = ok
	return http.StatusOK, out, nil
}

func (h *Handler) setPrimaryDomain(w http.ResponseWriter, r *http.Request) (int, any, error) {
	d, err := h.svc.SetPrimaryDomain(r.Context(), r.PathValue("id"), r.PathValue("domain_id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"domain": domainOf(d)}, nil
}

func (h *Handler) removeDomain(w http.ResponseWriter, r *http.Request) (int, any, error) {
	if _, err := h.svc.RemoveDomain(r.Context(), r.PathValue("id"), r.PathValue("domain_id")); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

func (h *Handler) spMetadata(w http.ResponseWriter, r *http.Request) (int, any, error) {
	m, err := h.svc.SPMetadata(r.Context())
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"entityId": m.EntityID, "acsUrl": m.ACSURL, "metadataXml": m.MetadataXML}, nil
}
