package provision

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"gatehouse/cache"
	"gatehouse/clock"
	"gatehouse/models"
	"gatehouse/store"
)

// SPMetadata is the SAML service provider's metadata: what an IdP admin copies or imports.
type SPMetadata struct {
	EntityID    string
	ACSURL      string
	MetadataXML string
}

// SPKeys are the service provider's key pairs in their rotation roles (models.SAMLSPKey).
type SPKeys struct {
	// Current signs AuthnRequests and is the first key tried for decryption.
	Current SPKeyPair
	// Next is published ahead of its promotion; Previous stays published after it. Either may
	// be nil. Both still decrypt: an IdP may encrypt to any certificate it was given.
	Next, Previous *SPKeyPair
}

// All returns every key pair, the current one first.
func (k *SPKeys) All() []SPKeyPair {
	out := []SPKeyPair{k.Current}
	for _, p := range []*SPKeyPair{k.Next, k.Previous} {
		if p != nil {
			out = append(out, *p)
		}
	}
	return out
}

// SAMLSP is what a SAML login needs of Gatehouse's service provider.
type SAMLSP struct {
	// EntityID is the AuthnRequest's Issuer and the audience assertions must name: the
	// connection's (SPURLs).
	EntityID string
	// ACSURL is the Destination and Recipient responses must name: <public URL>/saml/acs.
	ACSURL string
	Keys   SPKeys
}

// SPKeyInfo describes one SP key for an administrator (never the private half).
type SPKeyInfo struct {
	// Role is current, next or previous.
	Role string
	// CertificatePEM is the certificate IdPs are given.
	CertificatePEM string
	// FingerprintSHA256 is the certificate's SHA-256 fingerprint, hex, as IdP consoles show it.
	FingerprintSHA256 string
	NotAfter          time.Time
	CreatedAt         time.Time
}

// spKeysTTL bounds how long a replica keeps using its copy of the SP keys: after a rotation
// step on another replica, this one signs and publishes the new set within this time.
const spKeysTTL = 10 * time.Second

// spKeyCache keeps the decrypted SP keys, so that a sign-in does not read and decrypt them.
// One load runs at a time: concurrent sign-ins after expiry wait for it instead of each
// decrypting the keys.
type spKeyCache struct {
	load sync.Mutex
	c    *cache.Cache[struct{}, *SPKeys]
}

func newSPKeyCache(g *cache.Group, clk clock.Clock) spKeyCache {
	return spKeyCache{c: cache.New[struct{}, *SPKeys](g, "saml_sp_keys", cache.Options{MaxEntries: 1, TTL: spKeysTTL, Clock: clk})}
}

var spKeyMu sync.Mutex

// SP paths. The shared entity ID is the installation-wide one of the connections created
// before migration 20 (models.Connection.SAMLSharedEntityID); a connection's own is it
// followed by /<connection id>. The ACS is shared: the flow is found by RelayState or
// InResponseTo, and each flow checks the audience of its own connection.
const (
	SPMetadataPath = "/saml/metadata"
	ACSPath        = "/saml/acs"
)

// SPURLs are the URLs of the service provider as one SAML connection's IdP knows it.
type SPURLs struct {
	// EntityID is the AuthnRequest's Issuer and the audience assertions must name. It is
	// the metadata URL, as the metadata document's entityID.
	EntityID    string
	MetadataURL string
	ACSURL      string
}

// spURLs computes a connection's SP URLs: its own entity ID, or the shared one for a
// connection that has not moved (nil: the shared one).
func (s *Service) spURLs(c *models.Connection) SPURLs {
	md := s.sso.publicURL + SPMetadataPath
	if c != nil && !c.SAMLSharedEntityID {
		md += "/" + c.ID.String()
	}
	return SPURLs{EntityID: md, MetadataURL: md, ACSURL: s.sso.publicURL + ACSPath}
}

// SAMLConfig is the connection's SAML settings as the API shows them, with the service
// provider URLs the admin registers at the IdP; nil for an OIDC connection.
func (s *Service) SAMLConfig(c *models.Connection) *models.SAMLConfig {
	cfg := c.SAMLConfig()
	if cfg == nil {
		return nil
	}
	u := s.spURLs(c)
	cfg.SPEntityID, cfg.SPMetadataURL, cfg.ACSURL = u.EntityID, u.MetadataURL, u.ACSURL
	cfg.Certificates, cfg.CertificateExpiresAt = models.DescribeSAMLCertificates(c.SAMLCertificate)
	return cfg
}

// SPMetadata returns the shared service provider metadata, the one of the SAML connections
// created before each got its own entity ID (any caller allowed to manage connections).
func (s *Service) SPMetadata(ctx context.Context) (*SPMetadata, error) {
	if _, err := s.authorize(ctx, accessManageRead); err != nil {
		return nil, err
	}
	return s.PublicSPMetadata(ctx)
}

// PublicSPMetadata returns the shared service provider metadata without authentication: it
// is a public document (GET /saml/metadata) that IdPs fetch. It lists every key of the
// rotation.
func (s *Service) PublicSPMetadata(ctx context.Context) (*SPMetadata, error) {
	return s.spMetadata(ctx, nil)
}

// ConnectionSPMetadata returns the metadata of a SAML connection's own service provider
// without authentication (GET /saml/metadata/{id}): IdPs fetch it, and it shows nothing of
// the connection but its id. A connection still on the shared entity ID has it too, so that
// its IdP can be given the new entity ID before the move. ENOTFOUND, with no detail, for an
// id that is no live SAML connection.
func (s *Service) ConnectionSPMetadata(ctx context.Context, rawID string) (*SPMetadata, error) {
	notFound := models.Errorf(models.ENOTFOUND, "no such SAML connection")
	id, err := uuid.Parse(rawID)
	if err != nil || id.String() != rawID { // one URL per connection: its entity ID
		return nil, notFound
	}
	c, err := s.store.SAMLConnection(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound
	}
	if err != nil {
		return nil, internal("sp metadata", err)
	}
	own := *c
	own.SAMLSharedEntityID = false
	return s.spMetadata(ctx, &own)
}

// spMetadata renders the metadata of the service provider as conn's IdP knows it (nil: the
// shared one).
func (s *Service) spMetadata(ctx context.Context, conn *models.Connection) (*SPMetadata, error) {
	if s.sso.remote == nil {
		return nil, internal("sp metadata", errors.New("no Remote configured"))
	}
	sp, err := s.SAMLServiceProvider(ctx, conn)
	if err != nil {
		return nil, err
	}
	m := &SPMetadata{EntityID: sp.EntityID, ACSURL: sp.ACSURL}
	m.MetadataXML, err = s.sso.remote.SPMetadataXML(sp.Keys, m.EntityID, m.ACSURL)
	if err != nil {
		return nil, internal("sp metadata", err)
	}
	return m, nil
}

// SAMLServiceProvider returns the service provider's URLs and keys for a SAML login through
// conn: its entity ID is the connection's (spURLs; nil: the shared one). The key pair, shared
// by every connection, is generated on first use.
func (s *Service) SAMLServiceProvider(ctx context.Context, conn *models.Connection) (*SAMLSP, error) {
	keys, err := s.spKeys(ctx)
	if err != nil {
		return nil, internal("sp keys", err)
	}
	u := s.spURLs(conn)
	return &SAMLSP{EntityID: u.EntityID, ACSURL: u.ACSURL, Keys: *keys}, nil
}

// spKeys returns the cached SP keys, loading them when the copy is older than spKeysTTL.
func (s *Service) spKeys(ctx context.Context) (*SPKeys, error) {
	c := &s.spKeyCache
	if keys, ok := c.c.Get(struct{}{}); ok {
		return keys, nil
	}
	c.load.Lock()
	defer c.load.Unlock()
	if keys, ok := c.c.Get(struct{}{}); ok {
		return keys, nil
	}
	keys, err := s.loadSPKeys(ctx)
	if err != nil {
		return nil, err
	}
	c.c.Set(struct{}{}, keys)
	return keys, nil
}

// forgetSPKeys makes the next spKeys read the database (after a rotation step here). It waits
// for a load under way, which may have read the keys from before the step.
func (s *Service) forgetSPKeys() {
	s.spKeyCache.load.Lock()
	s.spKeyCache.c.Delete(struct{}{})
	s.spKeyCache.load.Unlock()
}

// loadSPKeys reads and decrypts every SP key, generating the current one on first use.
// Replicas racing on first use agree on the one stored first.
func (s *Service) loadSPKeys(ctx context.Context) (*SPKeys, error) {
	if _, err := s.store.SAMLSPKey(ctx); errors.Is(err, store.ErrNotFound) {
		spKeyMu.Lock()
		defer spKeyMu.Unlock()
		k, err := s.newSPKey(models.SPKeyCurrent)
		if err != nil {
			return nil, err
		}
		if _, err := s.store.CreateSAMLSPKey(ctx, k); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	rows, err := s.store.SAMLSPKeys(ctx)
	if err != nil {
		return nil, err
	}
	keys := &SPKeys{}
	for _, row := range rows {
		kp, err := s.openSPKey(row)
		if err != nil {
			return nil, err
		}
		switch row.ID {
		case models.SPKeyCurrent:
			keys.Current = *kp
		case models.SPKeyNext:
			keys.Next = kp
		case models.SPKeyPrevious:
			keys.Previous = kp
		}
	}
	if keys.Current.Key == nil {
		return nil, errors.New("no current SP key after a concurrent promotion")
	}
	return keys, nil
}

func (s *Service) openSPKey(k *models.SAMLSPKey) (*SPKeyPair, error) {
	der, err := s.box.Open(k.PrivateKeyEnc)
	if err != nil {
		return nil, err
	}
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(k.Certificate)
	if err != nil {
		return nil, err
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, errors.New("sp key is not a signer")
	}
	return &SPKeyPair{Key: signer, Certificate: cert}, nil
}

// spCertificateLifetime is how long an SP certificate is valid. SAML uses the certificate
// only to carry the public key, and IdPs do not re-import it by themselves, so it must outlive
// any deployment's patience: an expired SP certificate breaks sign-in at IdPs that check it.
const spCertificateLifetime = 10 // years

// newSPKey makes an RSA-2048 key (what every IdP accepts for SAML) and a self-signed
// certificate valid for spCertificateLifetime years, for the given role.
func (s *Service) newSPKey(role string) (*models.SAMLSPKey, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	now := s.now()
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: "Gatehouse SAML SP"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(spCertificateLifetime, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, BasicConstraintsValid: true}
	certDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return &models.SAMLSPKey{ID: role, PrivateKeyEnc: s.box.Seal(der), Certificate: certDER, CreatedAt: now}, nil
}

// authorizeSPKeys allows the platform admin only: the SP keys serve every workspace.
func (s *Service) authorizeSPKeys(ctx context.Context) (*Principal, error) {
	return s.authorizePlatformAdmin(ctx, "only the platform admin client may manage the SAML service provider keys: they serve every workspace")
}

// authorizePlatformAdmin allows the platform admin client only, for what serves every
// workspace; refused says why to anyone else.
func (s *Service) authorizePlatformAdmin(ctx context.Context, refused string) (*Principal, error) {
	p, err := s.authorize(ctx, accessAdmin)
	if err != nil {
		return nil, err
	}
	if !p.PlatformAdmin {
		return nil, models.Errorf(models.EFORBIDDEN, "%s", refused)
	}
	return p, nil
}

// SPKeyInfos lists the SP keys, current first (platform admin only).
func (s *Service) SPKeyInfos(ctx context.Context) ([]*SPKeyInfo, error) {
	if _, err := s.authorizeSPKeys(ctx); err != nil {
		return nil, err
	}
	if _, err := s.spKeys(ctx); err != nil { // generates the current key on first use
		return nil, internal("sp keys", err)
	}
	rows, err := s.store.SAMLSPKeys(ctx)
	if err != nil {
		return nil, internal("sp keys", err)
	}
	var out []*SPKeyInfo
	for _, role := range []string{models.SPKeyCurrent, models.SPKeyNext, models.SPKeyPrevious} {
		for _, row := range rows {
			if row.ID == role {
				out = append(out, spKeyInfo(row))
			}
		}
	}
	return out, nil
}

func spKeyInfo(k *models.SAMLSPKey) *SPKeyInfo {
	role := k.ID
	if role == models.SPKeyCurrent {
		role = "current"
	}
	info := &SPKeyInfo{Role: role, FingerprintSHA256: models.CertificateFingerprint(k.Certificate), CreatedAt: k.CreatedAt,
		CertificatePEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: k.Certificate}))}
	if c, err := x509.ParseCertificate(k.Certificate); err == nil {
		info.NotAfter = c.NotAfter
	}
	return info
}

// StartSPKeyRotation creates the next SP key and publishes it in the metadata beside the
// current one, without using it yet, so that IdPs can import it first. It fails with
// INVALID_STATE when a next key exists already.
func (s *Service) StartSPKeyRotation(ctx context.Context) (*SPKeyInfo, error) {
	p, err := s.authorizeSPKeys(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := s.spKeys(ctx); err != nil {
		return nil, internal("sp keys", err)
	}
	k, err := s.newSPKey(models.SPKeyNext)
	if err != nil {
		return nil, internal("sp key", err)
	}
	m := mutation{action: "saml_sp_key.rotation_started", target: "saml_sp_key", op: "sp key rotation",
		taken: func(field string) error {
			if field == "id" {
				return models.Errorf(models.EINVALIDSTATE, "a next SP key exists already: promote it (once every IdP has the new certificate) before starting another rotation")
			}
			return nil
		}}
	err = s.mutateAs(ctx, p, m, func(ctx context.Context, p *Principal) (audited, error) {
		return audited{id: models.SPKeyNext}, s.store.Create(ctx, k)
	})
	if err != nil {
		return nil, err
	}
	s.forgetSPKeys()
	return spKeyInfo(k), nil
}

// PromoteSPKey makes the next SP key current: it signs AuthnRequests from now on. The replaced
// key stays published and keeps decrypting as the previous key until RetireSPKey; an older
// previous key is dropped. INVALID_STATE when no rotation was started.
func (s *Service) PromoteSPKey(ctx context.Context) error {
	return s.spKeyStep(ctx, "saml_sp_key.promoted", models.SPKeyCurrent, s.store.PromoteSAMLSPKey,
		"there is no next SP key to promote: start a rotation first")
}

// RetireSPKey drops the previous SP key from the metadata and from decryption, once every IdP
// has the current certificate. INVALID_STATE when there is none.
func (s *Service) RetireSPKey(ctx context.Context) error {
	return s.spKeyStep(ctx, "saml_sp_key.retired", models.SPKeyPrevious, func(ctx context.Context) error {
		return s.store.DeleteSAMLSPKey(ctx, models.SPKeyPrevious)
	}, "there is no previous SP key to retire")
}

// spKeyStep runs one rotation step with its audit event in a transaction; the step's
// store.ErrNotFound is INVALID_STATE with the message missing.
func (s *Service) spKeyStep(ctx context.Context, action, role string, step func(context.Context) error, missing string) error {
	p, err := s.authorizeSPKeys(ctx)
	if err != nil {
		return err
	}
	err = s.mutateAs(ctx, p, mutation{action: action, target: "saml_sp_key", op: action}, func(ctx context.Context, p *Principal) (audited, error) {
		err := step(ctx)
		if errors.Is(err, store.ErrNotFound) {
			return audited{}, models.Errorf(models.EINVALIDSTATE, "%s", missing)
		}
		return audited{id: role}, err
	})
	if err != nil {
		return err
	}
	s.forgetSPKeys()
	return nil
}

// CertificateExpiry counts SAML connections by when their IdP certificates stop verifying
// responses, and names the urgent ones.
type CertificateExpiry struct {
	// Expired: no certificate is valid now (all expired, or not valid yet), or the text does
	// not parse; Within7Days and Within30Days (7 to 30 days) and Later by the latest notAfter.
	Expired, Within7Days, Within30Days, Later int
	// Urgent are the connections counted in Expired and Within7Days, at most maxUrgent of
	// them, for the operator's log.
	Urgent []ExpiringConnection
	// AcceptingSHA1 counts the same connections that accept responses signed with SHA-1
	// (samlConfig.acceptSha1Signatures): what is left to move off SHA-1.
	AcceptingSHA1 int
}

// ExpiringConnection is a SAML connection whose IdP certificates expire soon, or have.
type ExpiringConnection struct {
	WorkspaceID, ConnectionID uuid.UUID
	ExpiresAt                 *time.Time // nil: the certificate text does not parse
}

const maxUrgent = 100

// certificatesBatch is how many connections SAMLCertificateExpiry reads at a time (a text may
// be 16 KiB); a variable for its test.
var certificatesBatch = 500

// SAMLCertificateExpiry counts the active and testing SAML connections of every workspace by
// when their IdP certificates stop verifying responses: already (none valid now), within 7
// days, within 7 to 30 days, or later; and those that accept SHA-1 signatures. The server exports it as a metric and logs the urgent
// ones (app.Maintain); it is an operator's view across workspaces, with no caller. It reads
// the connections a batch at a time.
func (s *Service) SAMLCertificateExpiry(ctx context.Context) (CertificateExpiry, error) {
	var out CertificateExpiry
	now := s.clock.Now()
	after := uuid.Nil
	for {
		rows, err := s.store.SAMLCertificates(ctx, after, certificatesBatch, models.StatusActive, models.StatusTesting)
		if err != nil {
			return out, err
		}
		for _, r := range rows {
			if r.AcceptSHA1 {
				out.AcceptingSHA1++
			}
			infos, expiresAt := models.DescribeSAMLCertificates(r.Certificate)
			validNow := slices.ContainsFunc(infos, func(c models.SAMLCertificateInfo) bool { return c.ValidAt(now) })
			urgent := true
			switch {
			case !validNow:
				out.Expired++
			case expiresAt.Before(now.AddDate(0, 0, 7)):
				out.Within7Days++
			case expiresAt.Before(now.AddDate(0, 0, 30)):
				out.Within30Days++
				urgent = false
			default:
				out.Later++
				urgent = false
			}
			if urgent && len(out.Urgent) < maxUrgent {
				out.Urgent = append(out.Urgent, ExpiringConnection{WorkspaceID: r.WorkspaceID, ConnectionID: r.ConnectionID, ExpiresAt: expiresAt})
			}
		}
		if len(rows) < certificatesBatch {
			return out, nil
		}
		after = rows[len(rows)-1].ConnectionID
	}
}
