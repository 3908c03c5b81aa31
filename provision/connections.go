package provision

import (
	"bytes"
	"context"
	"crypto/subtle"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"gatehouse/models"
	"gatehouse/store"
)

// OIDCConfigInput is the OIDC half of a connection. On update, nil fields stay unchanged.
type OIDCConfigInput struct {
	IssuerURL    *string
	ClientID     *string
	ClientSecret *string
	DiscoveryURL *string
	Scopes       []string
	// IdentifierClaim names the claim read as the person's identifier ("" or "sub": sub).
	IdentifierClaim *string
	// OwnCallback gives the connection its own redirect URI (true) or the shared one (false):
	// models.Connection.OIDCOwnCallback.
	OwnCallback *bool
	// RequireVerifiedEmail takes the IdP's email only when it says it verified it:
	// models.Connection.OIDCRequireVerifiedEmail.
	RequireVerifiedEmail *bool
	// ClientAuthMethod is how Gatehouse authenticates to the IdP's token endpoint: one of
	// models.ClientAuthMethods.
	ClientAuthMethod *string
}

// SAMLConfigInput is the SAML half of a connection. On update, nil fields stay unchanged.
type SAMLConfigInput struct {
	EntityID *string
	SSOURL   *string
	// SSOBinding is the binding AuthnRequests are sent to SSOURL by: one of models.SAMLBindings.
	SSOBinding       *string
	Certificate      *string
	SignRequests     *bool
	AttributeMapping map[string]any
	MetadataURL      *string
	// OwnEntityID true moves a connection from the shared SP entity ID to its own, once and
	// for good; false is refused on a connection that has its own (every new one).
	OwnEntityID *bool
	// RefreshCertificatesFromMetadata: the certificates follow MetadataURL, read hourly
	// (RefreshSAMLMetadata); it needs a metadata URL.
	RefreshCertificatesFromMetadata *bool
	// MetadataXML is the IdP's metadata document, given as text: what the input leaves out of
	// EntityID, SSOURL and Certificate is read from it (fromMetadata). It is not kept.
	MetadataXML *string
	// AcceptSHA1Signatures accepts responses signed with SHA-1: models.Connection.SAMLAcceptSHA1.
	AcceptSHA1Signatures *bool
}

// ConnectionInput creates a connection (Name and Protocol required) or changes one (nil fields
// stay unchanged; the protocol cannot change).
type ConnectionInput struct {
	Name            *string
	Slug            *string
	Protocol        *models.Protocol
	OIDC            *OIDCConfigInput
	SAML            *SAMLConfigInput
	JITProvisioning *bool
	DefaultRole     *string
	// JITVerifiedDomainsOnly: models.Connection.JITVerifiedDomainsOnly.
	JITVerifiedDomainsOnly *bool
}

var defaultOIDCScopes = []string{"openid", "profile", "email"}

// CreateConnection creates an identity provider connection in status inactive.
func (s *Service) CreateConnection(ctx context.Context, in ConnectionInput) (*models.Connection, error) {
	p, err := s.authorize(ctx, accessManageWrite)
	if err != nil {
		return nil, err
	}
	now := s.now()
	c := &models.Connection{ID: store.NewID(), WorkspaceID: p.WorkspaceID, Status: models.StatusInactive,
		DefaultRole: models.DefaultRole, SAMLAttributeMapping: "{}", Version: 1, CreatedAt: now, UpdatedAt: now}
	var errs models.Errors
	var fromURL *SAMLMetadata // the metadata read from metadataUrl (fromMetadata)
	if in.Name == nil {
		errs = append(errs, models.FieldError(models.EINVALID, "name", "", "is required"))
	}
	switch {
	case in.Protocol == nil:
		errs = append(errs, models.FieldError(models.EINVALID, "protocol", "", "is required (oidc or saml)"))
	case *in.Protocol != models.ProtocolOIDC && *in.Protocol != models.ProtocolSAML:
		errs = append(errs, models.FieldError(models.EINVALID, "protocol", string(*in.Protocol), "must be oidc or saml"))
	case *in.Protocol == models.ProtocolOIDC && in.OIDC == nil:
		errs = append(errs, models.FieldError(models.EINVALID, "oidcConfig", "", "is required for an OIDC connection"))
	case *in.Protocol == models.ProtocolSAML && in.SAML == nil:
		errs = append(errs, models.FieldError(models.EINVALID, "samlConfig", "", "is required for a SAML connection"))
	default:
		c.Protocol = *in.Protocol
	}
	if c.Protocol == models.ProtocolOIDC {
		c.OIDCScopes = strings.Join(defaultOIDCScopes, " ")
	}
	if c.Protocol == models.ProtocolSAML && len(errs) == 0 {
		// Before the rest of the validation, which needs what the metadata fills in; only
		// once the cheap checks passed, since it may read a URL. Into a copy: the caller's
		// input stays as given.
		sm := *in.SAML
		if fromURL, err = s.fromMetadata(ctx, &sm, true); err != nil {
			return nil, err
		}
		in.SAML = &sm
	}
	derived := in.Slug == nil
	if derived && in.Name != nil {
		slug := derivedSlug(*in.Name, "connection", c.ID)
		in.Slug = &slug
	}
	errs = append(errs, s.applyConnection(c, in, true)...)
	if len(errs) > 0 {
		return nil, errs
	}
	if fromURL != nil {
		// The document just read from metadataUrl is a read of it as the refresh's are: when
		// it lists the ssoUrl the connection is stored with, for its binding, a read that no
		// longer does reports the move (ssoURLDrift), even the first hourly one. An ssoUrl it
		// does not list (an alias set beside the metadataUrl) is not marked.
		c.SAMLMetadataSSOListed, _ = ssoURLDrift(c, *fromURL)
	}
	err = s.mutateAs(ctx, p, s.connectionMutation(ctx, "connection.create", &c), func(ctx context.Context, p *Principal) (audited, error) {
		summary := connectionSummary(c)
		if c.JITVerifiedDomainsOnly {
			summary["jitVerifiedDomainsOnly"] = true
		}
		if certs, _ := models.ParseSAMLCertificates(c.SAMLCertificate); len(certs) > 0 {
			// What the connection trusts from the start, as each change after says.
			added, _ := certificateChanges(nil, certs)
			summary["certificates"] = map[string]any{"added": added}
		}
		if c.SAMLAcceptSHA1 {
			// A connection made accepting SHA-1 signatures trusts less from the start: the
			// audit trail shows who made it so, as it shows who turns it on later.
			summary["acceptSha1Signatures"] = true
		}
		return audited{id: c.ID.String(), summary: summary}, s.store.Create(ctx, c)
	})
	if derived {
		derivedSlugTaken(err, "connection")
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

// derivedSlugTaken rewords err when it is a slug taken by another of what (a connection, a
// brand) and the slug was derived from the name: the caller sent none ("Okta-OIDC" after
// "Okta OIDC", "Societe" after "Société"), so the answer says where it came from.
func derivedSlugTaken(err error, what string) {
	var taken *models.Error
	if errors.As(err, &taken) && taken.Code == models.ETAKEN && taken.Field == "slug" {
		taken.Message = "is taken by another " + what + " in this workspace: it was derived from the name; send a slug to choose another"
	}
}

// UpdateConnection changes the given fields. Changing a setting the connection test checks
// (issuer URL, discovery URL, entity ID, SSO URL, certificate, metadata URL) of a connection in
// testing, active or error sends it back to inactive: it must pass a new test before it can be
// activated again. Adding IdP certificates, or dropping some of them (rollsCertificates), is
// not such a change. Settings a test cannot check (client ID and secret, scopes, request
// signing, attribute mapping, JIT, role) keep the status, so that a routine secret rotation
// does not take sign-in down.
func (s *Service) UpdateConnection(ctx context.Context, rawID string, in ConnectionInput) (*models.Connection, error) {
	p, err := s.authorize(ctx, accessManageWrite)
	if err != nil {
		return nil, err
	}
	if in.SAML != nil && in.SAML.MetadataXML != nil {
		// The connection first: a document sent for a connection that is not there, or not a
		// SAML one, is answered about the connection, not about the document.
		c, err := s.loadConnection(ctx, p.WorkspaceID, "id", rawID)
		if err != nil {
			return nil, internal("connection", err)
		}
		if c.Protocol != models.ProtocolSAML {
			return nil, models.FieldError(models.EINVALID, "samlConfig", "", "is only for SAML connections")
		}
		// Parsed once, outside the transaction (on SQLite it holds the write lock), into a
		// copy: the caller's input stays as given.
		sm := *in.SAML
		// On update only metadataXml is read, never metadataUrl: the admin's copy of a
		// document, not what the URL lists, so it leaves SAMLMetadataSSOListed to the reads of
		// the URL (ssoURLDrift), and its result (nil) is not needed.
		if _, err := s.fromMetadata(ctx, &sm, false); err != nil {
			return nil, err
		}
		in.SAML = &sm
	}
	var c *models.Connection
	err = s.mutateAs(ctx, p, s.connectionMutation(ctx, "connection.update", &c), func(ctx context.Context, p *Principal) (_ audited, err error) {
		if c, err = s.loadConnection(ctx, p.WorkspaceID, "id", rawID); err != nil {
			return audited{}, err
		}
		if in.Protocol != nil && *in.Protocol != c.Protocol {
			return audited{}, models.FieldError(models.EINVALID, "protocol", strings.ToUpper(string(*in.Protocol)), "cannot change; create a new connection instead")
		}
		shared, sha1, domainsOnly, certs := c.SAMLSharedEntityID, c.SAMLAcceptSHA1, c.JITVerifiedDomainsOnly, c.SAMLCertificate
		method, secret := c.ClientAuthMethod(), c.OIDCClientSecretEnc
		report := metadataReportOf(c)
		changed, names, err := edit(c, func(c *models.Connection) error { return s.applyConnection(c, in, false).Err() })
		if err != nil || !changed {
			return audited{unchanged: true}, err // !changed: no write, no event (edit)
		}
		if err := s.store.UpdateConnection(ctx, c); err != nil {
			return audited{}, err
		}
		if metadataReportOf(c) != report { // started afresh (applyMetadataRefresh)
			if err := s.store.SetSAMLMetadataReport(ctx, c); err != nil {
				return audited{}, err
			}
		}
		summary := connectionSummary(c)
		summary["changed"] = names
		if c.Protocol == models.ProtocolOIDC {
			// How the connection authenticates to its IdP is for the audit trail to show, never
			// the secret: that it was set or removed (dropped with a new discovery URL, or cleared).
			if m := c.ClientAuthMethod(); m != method {
				summary["clientAuthMethod"] = map[string]any{"from": method, "to": m}
			}
			switch {
			case len(secret) > 0 && len(c.OIDCClientSecretEnc) == 0:
				summary["clientSecret"] = "removed"
			case !bytes.Equal(secret, c.OIDCClientSecretEnc):
				summary["clientSecret"] = "set"
			}
		}
		if certs != c.SAMLCertificate {
			// The certificates are what the connection trusts to sign people in, and a
			// rollover step changes them keeping the status: which ones, by whom, as the
			// refresh's own events say (connection.certificates_refreshed).
			before, _ := models.ParseSAMLCertificates(certs)
			after, _ := models.ParseSAMLCertificates(c.SAMLCertificate)
			if added, removed := certificateChanges(before, after); len(added)+len(removed) > 0 {
				summary["certificates"] = map[string]any{"added": added, "removed": removed}
			}
		}
		if sha1 != c.SAMLAcceptSHA1 {
			// Accepting SHA-1 signatures weakens what the connection trusts: who did it, and when.
			summary["acceptSha1Signatures"] = map[string]any{"from": sha1, "to": c.SAMLAcceptSHA1}
		}
		if domainsOnly != c.JITVerifiedDomainsOnly {
			// Who may get an account through the connection: who widened or narrowed it.
			summary["jitVerifiedDomainsOnly"] = map[string]any{"from": domainsOnly, "to": c.JITVerifiedDomainsOnly}
		}
		if shared && !c.SAMLSharedEntityID {
			// The move to its own SP entity ID: the IdP must be given the new one.
			summary["spEntityId"] = map[string]any{"from": s.spURLs(nil).EntityID, "to": s.spURLs(c).EntityID}
		}
		return audited{id: c.ID.String(), summary: summary}, nil
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// connectionMutation is a write of the connection *c that may clash on its name or slug.
// PostgreSQL reports only the first violated index, so a slug clash is reported as a name
// clash when the name is taken too (the slug is usually derived from it).
func (s *Service) connectionMutation(ctx context.Context, action string, c **models.Connection) mutation {
	return mutation{access: accessManageWrite, action: action, target: "connection", op: "save connection",
		stale: changedConcurrently("connection"),
		taken: func(field string) error {
			conn := *c
			if field == "slug" {
				if taken, err := s.store.ConnectionNameTaken(ctx, conn.WorkspaceID, conn.NameKey, conn.ID); err == nil && taken {
					field = "name"
				}
			}
			switch field {
			case "slug":
				return models.FieldError(models.ETAKEN, "slug", conn.Slug, "another connection in this workspace has this slug")
			case "name":
				return models.FieldError(models.ETAKEN, "name", conn.Name, "another connection in this workspace has this name")
			}
			return nil
		}}
}

func connectionSummary(c *models.Connection) map[string]any {
	return map[string]any{"name": c.Name, "slug": c.Slug, "protocol": c.Protocol, "status": c.Status}
}

// applyConnection validates in and copies it onto c. create demands the required fields.
func (s *Service) applyConnection(c *models.Connection, in ConnectionInput, create bool) models.Errors {
	if errs := connectionTexts(in); len(errs) > 0 {
		return errs
	}
	var errs models.Errors
	add := func(e *models.Error) {
		if e != nil {
			errs = append(errs, e)
		}
	}
	if in.Name != nil {
		name := strings.TrimSpace(*in.Name)
		add(validateName("name", name))
		c.Name, c.NameKey = name, models.Key(name)
	}
	if in.Slug != nil {
		// Every place that takes a slug reads it in any case (SlugKey), so "Okta-Main" is the
		// slug okta-main here too: stored, answered and compared for uniqueness lower case.
		slug := models.SlugKey(*in.Slug)
		if !models.ValidSlug(slug) {
			add(models.FieldError(models.EINVALID, "slug", strings.TrimSpace(*in.Slug), "must be 1-64 letters (stored lower case), digits, '-' or '_', starting with a letter or digit"))
		}
		c.Slug = slug
	}
	if in.DefaultRole != nil {
		ok := false
		for _, r := range models.Roles {
			ok = ok || *in.DefaultRole == r
		}
		if !ok {
			add(models.FieldError(models.EINVALID, "defaultRole", *in.DefaultRole, "must be one of "+models.RoleList))
		}
		c.DefaultRole = *in.DefaultRole
	}
	if in.JITProvisioning != nil {
		c.JITProvisioning = *in.JITProvisioning
	}
	if in.JITVerifiedDomainsOnly != nil {
		c.JITVerifiedDomainsOnly = *in.JITVerifiedDomainsOnly
	}
	reach := false // did a setting the connection test checks change?
	if o := in.OIDC; o != nil {
		if c.Protocol != models.ProtocolOIDC {
			add(models.FieldError(models.EINVALID, "oidcConfig", "", "is only for OIDC connections"))
		} else {
			discovery := c.DiscoveryURL() // where the credentials go: its document names the token endpoint
			if o.IssuerURL != nil {
				if e := s.validateIdPURL("oidcConfig.issuerUrl", *o.IssuerURL); e != nil {
					add(e)
				} else {
					add(microsoftMultiTenant("oidcConfig.issuerUrl", *o.IssuerURL))
				}
				reach = reach || c.OIDCIssuerURL != *o.IssuerURL
				c.OIDCIssuerURL = *o.IssuerURL
			} else if create {
				add(models.FieldError(models.EINVALID, "oidcConfig.issuerUrl", "", "is required"))
			}
			if o.ClientID != nil {
				if strings.TrimSpace(*o.ClientID) == "" {
					add(models.FieldError(models.EINVALID, "oidcConfig.clientId", *o.ClientID, "is required"))
				} else if len(*o.ClientID) > maxConfigValue {
					add(models.FieldError(models.EINVALID, "oidcConfig.clientId", models.Clip(*o.ClientID, 64), "must be at most 1,024 bytes"))
				}
				c.OIDCClientID = strings.TrimSpace(*o.ClientID)
			} else if create {
				add(models.FieldError(models.EINVALID, "oidcConfig.clientId", "", "is required"))
			}
			if o.DiscoveryURL != nil {
				if *o.DiscoveryURL != "" {
					if e := s.validateIdPURL("oidcConfig.discoveryUrl", *o.DiscoveryURL); e != nil {
						add(e)
					} else {
						add(microsoftMultiTenant("oidcConfig.discoveryUrl", *o.DiscoveryURL))
					}
				}
				reach = reach || c.OIDCDiscoveryURL != *o.DiscoveryURL
				c.OIDCDiscoveryURL = *o.DiscoveryURL
			}
			s.applyOIDCCredentials(c, o, !create && c.DiscoveryURL() != discovery, add)
			if o.Scopes != nil {
				scopes := strings.Fields(strings.Join(o.Scopes, " "))
				if len(scopes) == 0 {
					scopes = defaultOIDCScopes
				}
				if len(scopes) > 32 || len(strings.Join(scopes, " ")) > maxConfigValue {
					add(models.FieldError(models.EINVALID, "oidcConfig.scopes", models.Clip(strings.Join(scopes, " "), 64), "must be at most 32 scopes, 1024 characters in all"))
				}
				c.OIDCScopes = strings.Join(scopes, " ")
			}
			if o.IdentifierClaim != nil {
				claim := strings.TrimSpace(*o.IdentifierClaim)
				if claim != "" && !models.ValidClaimName(claim) {
					add(models.FieldError(models.EINVALID, "oidcConfig.identifierClaim", models.Clip(claim, 64),
						"must be a claim name: 1-64 letters, digits, '_', '.', ':' or '-', starting with a letter or '_'"))
				} else if !models.IdentifyingClaim(claim) {
					add(models.FieldError(models.EINVALID, "oidcConfig.identifierClaim", claim,
						"cannot be "+claim+": it does not tell people apart (it is the same for many people, or new in every token); use sub, or a stable unique claim such as oid, preferred_username or email"))
				}
				if claim == "sub" {
					claim = ""
				}
				c.OIDCIdentifierClaim = claim
			}
			if o.OwnCallback != nil {
				// A sign-in under way when this changes fails at the callback (the IdP sends it
				// to the redirect URI it started with), and only that one.
				c.OIDCOwnCallback = *o.OwnCallback
			}
			if o.RequireVerifiedEmail != nil {
				c.OIDCRequireVerifiedEmail = *o.RequireVerifiedEmail
			}
		}
	}
	if sm := in.SAML; sm != nil {
		if c.Protocol != models.ProtocolSAML {
			add(models.FieldError(models.EINVALID, "samlConfig", "", "is only for SAML connections"))
		} else {
			judged := metadataBasisOf(c) // what the metadata report was judged against
			if create {
				// The WorldFlow document has the admin copy the entityId of GET
				// /api/v1/sso/sp-metadata, the shared one, into the IdP: a new connection
				// accepts it unless it asks for its own (ownEntityId: true, the safer choice).
				c.SAMLSharedEntityID = true
			}
			if sm.EntityID != nil {
				if strings.TrimSpace(*sm.EntityID) == "" {
					add(models.FieldError(models.EINVALID, "samlConfig.entityId", *sm.EntityID, "is required"))
				} else if len(*sm.EntityID) > maxConfigValue {
					add(models.FieldError(models.EINVALID, "samlConfig.entityId", models.Clip(*sm.EntityID, 64), "must be at most 1,024 bytes"))
				}
				reach = reach || c.SAMLEntityID != strings.TrimSpace(*sm.EntityID)
				c.SAMLEntityID = strings.TrimSpace(*sm.EntityID)
			} else if create {
				add(models.FieldError(models.EINVALID, "samlConfig.entityId", "", "is required"))
			}
			if sm.SSOURL != nil {
				add(s.validateIdPURL("samlConfig.ssoUrl", *sm.SSOURL))
				if c.SAMLSSOURL != *sm.SSOURL {
					reach = true
					if sm.SSOBinding == nil {
						// A binding is its location's: a new ssoUrl given without one is sent
						// to by the default, as on a connection created with it, never by the
						// binding chosen for the old URL (an IdP that takes only HTTP-POST
						// there). One read from metadata with it comes as ssoBinding
						// (fromMetadata).
						c.SAMLSSOBinding = ""
					}
				}
				c.SAMLSSOURL = *sm.SSOURL
			} else if create {
				add(models.FieldError(models.EINVALID, "samlConfig.ssoUrl", "", "is required"))
			}
			if sm.SSOBinding != nil {
				if b := models.SAMLBinding(strings.TrimSpace(*sm.SSOBinding)); slices.Contains(models.SAMLBindings, b) {
					reach = reach || c.SSOBinding() != b
					c.SAMLSSOBinding = string(b)
				} else {
					add(models.FieldError(models.EINVALID, "samlConfig.ssoBinding", models.Clip(*sm.SSOBinding, 64),
						fmt.Sprintf("must be one of %s, %s", models.SAMLBindingRedirect, models.SAMLBindingPost)))
				}
			}
			if sm.Certificate != nil {
				err := validateCertificatePEM("samlConfig.certificate", *sm.Certificate)
				add(err)
				rolls := rollsCertificates(c.SAMLCertificate, *sm.Certificate)
				if err == nil && rolls && !create && strings.TrimSpace(*sm.Certificate) != strings.TrimSpace(c.SAMLCertificate) &&
					(c.Status == models.StatusActive || c.Status == models.StatusTesting) {
					add(s.rolloverKeepsOneValid(*sm.Certificate))
				}
				reach = reach || !rolls
				c.SAMLCertificate = strings.TrimSpace(*sm.Certificate)
			} else if create {
				add(models.FieldError(models.EINVALID, "samlConfig.certificate", "", "is required"))
			}
			if sm.SignRequests != nil {
				c.SAMLSignRequests = *sm.SignRequests
			}
			if sm.AcceptSHA1Signatures != nil {
				c.SAMLAcceptSHA1 = *sm.AcceptSHA1Signatures
			}
			if sm.AttributeMapping != nil {
				add(validateAttributeMapping(sm.AttributeMapping))
				b, _ := json.Marshal(sm.AttributeMapping)
				c.SAMLAttributeMapping = string(b)
			}
			urlChanged := false
			if sm.MetadataURL != nil {
				if *sm.MetadataURL != "" {
					add(s.validateIdPURL("samlConfig.metadataUrl", *sm.MetadataURL))
				}
				urlChanged = c.SAMLMetadataURL != *sm.MetadataURL
				reach = reach || urlChanged
				c.SAMLMetadataURL = *sm.MetadataURL
			}
			add(applyMetadataRefresh(c, sm, judged))
			if sm.OwnEntityID != nil {
				// One way: going back would let assertions for another connection's
				// registration at the same IdP pass this one's audience check again.
				if !*sm.OwnEntityID && !c.SAMLSharedEntityID {
					add(models.FieldError(models.EINVALID, "samlConfig.ownEntityId", "false",
						"cannot be set back: this connection has its own SP entity ID, and the shared one would accept assertions issued for other connections"))
				}
				if *sm.OwnEntityID {
					c.SAMLSharedEntityID = false
				}
			}
		}
	}
	if reach && !create && c.Status != models.StatusInactive {
		c.Status = models.StatusInactive
	}
	return errs
}

// applyOIDCCredentials applies an OIDC connection input's client authentication method and
// secret. The secret is the IdP's, and write-only: a connection on it needs one, and a stored
// secret is never sent to another IdP than the one it was given for, so when the input names
// another (moved: the discovery document, which names the token endpoint, is read from another
// URL, by a new discoveryUrl or a new issuerUrl without one) it is dropped, and a connection on
// it needs it again. A connection on private_key_jwt keeps a secret it has, unused, for a
// switch back, unless the input clears it with "".
func (s *Service) applyOIDCCredentials(c *models.Connection, o *OIDCConfigInput, moved bool, add func(*models.Error)) {
	if o.ClientAuthMethod != nil {
		if m := strings.TrimSpace(*o.ClientAuthMethod); slices.Contains(models.ClientAuthMethods, models.ClientAuthMethod(m)) {
			c.OIDCClientAuthMethod = m
		} else {
			add(models.FieldError(models.EINVALID, "oidcConfig.clientAuthMethod", models.Clip(m, 64),
				fmt.Sprintf("must be one of %s, %s", models.ClientAuthSecret, models.ClientAuthPrivateKeyJWT)))
		}
	}
	keyed := c.ClientAuthMethod() == models.ClientAuthPrivateKeyJWT
	switch {
	case o.ClientSecret == nil:
		if moved && len(c.OIDCClientSecretEnc) > 0 {
			c.OIDCClientSecretEnc = nil
			if !keyed {
				add(models.SecretFieldError(models.EINVALID, "oidcConfig.clientSecret",
					"is required when the discovery document is read from another URL (a new issuerUrl or discoveryUrl): "+
						"a stored secret is only sent to the identity provider it was given for"))
				return
			}
		}
	case *o.ClientSecret == "" && keyed:
		c.OIDCClientSecretEnc = nil
	case *o.ClientSecret == "":
		add(models.SecretFieldError(models.EINVALID, "oidcConfig.clientSecret", "is required (at most 1,024 bytes)"))
		return
	case len(*o.ClientSecret) > models.MaxSecretLength:
		add(models.SecretFieldError(models.EINVALID, "oidcConfig.clientSecret", "must be at most 1,024 bytes"))
		return
	default:
		// The secret it has already keeps its sealed form: sealing again (a new nonce) would
		// make an update that sends it again, as a configuration tool does, a change (edit).
		if old, err := s.box.Open(c.OIDCClientSecretEnc); err != nil || subtle.ConstantTimeCompare(old, []byte(*o.ClientSecret)) != 1 {
			c.OIDCClientSecretEnc = s.box.Seal([]byte(*o.ClientSecret))
		}
	}
	if !keyed && len(c.OIDCClientSecretEnc) == 0 {
		add(models.SecretFieldError(models.EINVALID, "oidcConfig.clientSecret", "is required, unless clientAuthMethod is private_key_jwt"))
	}
}

// validateIdPURL accepts what models.ValidIdPURL accepts, written with URI characters only: a
// space, <, >, { or } is a placeholder of a setup guide left in ("…/<tenant-id>/saml2"), which
// url.Parse takes and which would fail only when a person signs in.
func (s *Service) validateIdPURL(field, raw string) *models.Error {
	if e := models.CheckText(field, raw); e != nil {
		return e
	}
	if !models.URIText(raw) {
		return models.FieldError(models.EINVALID, field, models.Clip(raw, 256),
			"must be a URL without spaces or characters such as < > { } (is a placeholder left in it?)")
	}
	if len(raw) > models.MaxIdPURLLength { // an absolute https URL still, but too long to take
		return models.FieldError(models.EINVALID, field, models.Clip(raw, 256), "must be at most 2,048 bytes")
	}
	if !models.ValidIdPURL(raw, s.allowPrivate) {
		return models.FieldError(models.EINVALID, field, models.Clip(raw, 256), "must be an absolute https URL")
	}
	return nil
}

// microsoftMultiTenant refuses Microsoft's multi-tenant endpoints (.../common/v2.0,
// .../organizations/v2.0, .../consumers/v2.0) as issuerUrl or discoveryUrl, with the tenant's
// URL to use instead. A connection is one customer's identity provider, and these endpoints
// sign in the people of every Microsoft organization (or personal accounts); their discovery
// document names a templated issuer ({tenantid}), which no id_token carries and no issuerUrl
// can be, so no sign-in through one could succeed anyway, and the connection test would only
// say the issuers differ, whichever of the two URLs named the endpoint. The tenant of
// Microsoft's personal accounts (msaConsumersTenant) is refused too: its discovery names its own
// id as the issuer, so a connection to it would work, and sign in anyone with a personal
// Microsoft account (outlook.com, hotmail.com, live.com), no customer's people.
func microsoftMultiTenant(field, raw string) *models.Error {
	u, err := url.Parse(raw)
	if err != nil {
		return nil
	}
	switch strings.ToLower(u.Hostname()) {
	case "login.microsoftonline.com", "login.microsoftonline.us", "login.partner.microsoftonline.cn", "login.windows.net":
	default:
		return nil
	}
	tenant, _, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	use := "use the customer's tenant, https://" + u.Host + "/<tenant id>/v2.0 (Entra admin center: Overview, Tenant ID)"
	if field == "oidcConfig.discoveryUrl" {
		use = "use the customer's tenant, https://" + u.Host + "/<tenant id>/v2.0/.well-known/openid-configuration (Entra admin center: Overview, Tenant ID), " +
			"or no discoveryUrl: the issuerUrl's document is read"
	}
	switch strings.ToLower(tenant) {
	case "common", "organizations", "consumers":
		return models.FieldError(models.EINVALID, field, models.Clip(raw, 256),
			"is Microsoft's multi-tenant endpoint ("+tenant+"), which signs in people of any Microsoft organization: "+use)
	case msaConsumersTenant:
		return models.FieldError(models.EINVALID, field, models.Clip(raw, 256),
			"is the tenant of Microsoft's personal accounts ("+tenant+"), which signs in anyone with a personal Microsoft account, no organization's people: "+use)
	}
	return nil
}

// msaConsumersTenant is the tenant id of Microsoft's personal accounts, the issuer its consumers
// endpoint's discovery names (Microsoft identity platform: ID token claims, tid).
const msaConsumersTenant = "9188040d-6c67-4c5b-b112-36a304b66dad"

// connectionTexts applies the input text rule to every string of a connection input.
func connectionTexts(in ConnectionInput) models.Errors {
	errs := models.CheckTexts("name", in.Name, "slug", in.Slug, "defaultRole", in.DefaultRole)
	if o := in.OIDC; o != nil {
		errs = append(errs, models.CheckTexts("oidcConfig.issuerUrl", o.IssuerURL, "oidcConfig.clientId", o.ClientID,
			"oidcConfig.clientSecret", o.ClientSecret, "oidcConfig.discoveryUrl", o.DiscoveryURL, "oidcConfig.scopes", o.Scopes,
			"oidcConfig.identifierClaim", o.IdentifierClaim, "oidcConfig.clientAuthMethod", o.ClientAuthMethod)...)
	}
	if sm := in.SAML; sm != nil {
		errs = append(errs, models.CheckTexts("samlConfig.entityId", sm.EntityID, "samlConfig.ssoUrl", sm.SSOURL,
			"samlConfig.ssoBinding", sm.SSOBinding, "samlConfig.metadataUrl", sm.MetadataURL)...)
		if sm.Certificate != nil {
			if e := models.CheckFreeText("samlConfig.certificate", *sm.Certificate); e != nil {
				errs = append(errs, e)
			}
		}
		for k, v := range sm.AttributeMapping {
			e := models.CheckText("samlConfig.attributeMapping", k)
			if s, ok := v.(string); ok && e == nil {
				e = models.CheckText("samlConfig.attributeMapping", s)
			}
			if e != nil {
				errs = append(errs, e)
				break
			}
		}
	}
	return errs
}

// maxConfigValue bounds one IdP setting (client ID, entity ID, scopes).
const maxConfigValue = 1024

// validateAttributeMapping accepts up to 64 entries mapping a Gatehouse attribute to the name
// of the IdP's attribute, both strings.
func validateAttributeMapping(m map[string]any) *models.Error {
	if len(m) > 64 {
		return models.FieldError(models.EINVALID, "samlConfig.attributeMapping", "", "must have at most 64 entries")
	}
	for k, v := range m {
		s, ok := v.(string)
		if !ok || k == "" || len(k) > 128 || len(s) > maxConfigValue {
			return models.FieldError(models.EINVALID, "samlConfig.attributeMapping."+models.Clip(k, 64), "",
				"must map an attribute name (at most 128 bytes) to an IdP attribute name (a string of at most 1,024 bytes)")
		}
	}
	return nil
}

func validateCertificatePEM(field, v string) *models.Error {
	if len(v) > 16<<10 {
		return models.FieldError(models.EINVALID, field, models.Clip(v, 64), "must be at most 16 KiB")
	}
	if _, err := models.ParseSAMLCertificates(v); err != nil {
		return models.FieldError(models.EINVALID, field, models.Clip(v, 64), err.Error())
	}
	return nil
}

// rollsCertificates reports whether the certificate text next is prev with certificates
// added, or with some of them dropped: the two steps of an IdP certificate rollover (paste the
// next beside the current, then drop the old). Neither makes a connection test that passed
// fail (each certificate is checked on its own, and an added one is only ever an extra
// signer), so the connection keeps its status and sign-in goes on. A certificate replaced by
// another needs a new test, like any other change of reach.
func rollsCertificates(prev, next string) bool {
	if strings.TrimSpace(prev) == strings.TrimSpace(next) {
		return true
	}
	before, err1 := models.ParseSAMLCertificates(prev)
	after, err2 := models.ParseSAMLCertificates(next)
	if err1 != nil || err2 != nil {
		return false
	}
	return containsCertificates(after, before) || containsCertificates(before, after)
}

// rolloverKeepsOneValid refuses a rollover step (rollsCertificates: the connection keeps its
// status) that leaves no certificate valid now: the connection would stay active while every
// response fails its signature check. Drop the old certificate once the next one is valid.
func (s *Service) rolloverKeepsOneValid(text string) *models.Error {
	why := noneValidNow(text, s.clock.Now())
	if why == "" {
		return nil
	}
	return models.FieldError(models.EINVALID, "samlConfig.certificate", models.Clip(text, 64),
		"must keep a certificate that is valid now ("+why+"): drop the one the IdP signs with only once the next is valid")
}

// noneValidNow says why no certificate of text is valid at now ("": one is), each by its
// place in the text: "certificate 1 expired on …; certificate 2 is valid from …".
func noneValidNow(text string, now time.Time) string {
	infos, _ := models.DescribeSAMLCertificates(text)
	var why []string
	for i, c := range infos {
		switch {
		case c.ValidAt(now):
			return ""
		case now.Before(c.NotBefore):
			why = append(why, fmt.Sprintf("certificate %d is valid from %s", i+1, c.NotBefore.Format(time.RFC3339)))
		default:
			why = append(why, fmt.Sprintf("certificate %d expired on %s", i+1, c.NotAfter.Format(time.RFC3339)))
		}
	}
	if len(why) == 0 {
		return "no certificate"
	}
	return strings.Join(why, "; ")
}

// containsCertificates reports whether every certificate of sub is in set.
func containsCertificates(set, sub []*x509.Certificate) bool {
	for _, c := range sub {
		if !slices.ContainsFunc(set, c.Equal) {
			return false
		}
	}
	return true
}

func (s *Service) loadConnection(ctx context.Context, ws uuid.UUID, field, rawID string) (*models.Connection, error) {
	return s.loadConnectionWith(ctx, ws, field, rawID, s.store.Connection)
}

// lockConnection is loadConnection for a write that decides from the connection and its
// domains together (store.ConnectionForUpdate): activation, the removal of a domain.
func (s *Service) lockConnection(ctx context.Context, ws uuid.UUID, field, rawID string) (*models.Connection, error) {
	return s.loadConnectionWith(ctx, ws, field, rawID, s.store.ConnectionForUpdate)
}

func (s *Service) loadConnectionWith(ctx context.Context, ws uuid.UUID, field, rawID string, find finder[models.Connection]) (*models.Connection, error) {
	id, e := lookupID(field, rawID, "connection")
	if e != nil {
		return nil, models.FieldError(models.ENOTFOUND, field, rawID, "no such connection in this workspace")
	}
	c, err := find(ctx, ws, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, models.FieldError(models.ENOTFOUND, field, rawID, "no such connection in this workspace")
	}
	return c, err
}

// Connection returns one live connection of the caller's workspace, or nil.
func (s *Service) Connection(ctx context.Context, rawID string) (*models.Connection, error) {
	p, err := s.authorize(ctx, accessManageRead)
	if err != nil {
		return nil, err
	}
	c, err := s.loadConnection(ctx, p.WorkspaceID, "id", rawID)
	if models.ErrorCode(err) == models.ENOTFOUND {
		return nil, nil
	}
	return c, internal("connection", err)
}

// Connections lists the caller's workspace's live connections.
func (s *Service) Connections(ctx context.Context) ([]*models.Connection, error) {
	p, err := s.authorize(ctx, accessManageRead)
	if err != nil {
		return nil, err
	}
	cs, err := s.store.Connections(ctx, p.WorkspaceID)
	if err != nil {
		return nil, internal("connections", err)
	}
	// Domains are loaded for the whole list in one query, not once per connection.
	if err := s.attachDomains(ctx, p.WorkspaceID, cs); err != nil {
		return nil, err
	}
	return cs, nil
}
