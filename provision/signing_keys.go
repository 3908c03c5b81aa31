package provision

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"gatehouse/models"
	"gatehouse/store"
)

// The token signing keys: ES256 key pairs that sign access tokens and id_tokens, published in
// the JWKS. They rotate in two steps, like the SAML SP keys, because a relying party caches the
// JWKS (Gatehouse lets it for 5 minutes, many libraries longer) and may not fetch it again for
// an unknown kid: StartSigningKeyRotation publishes a next key without signing with it;
// PromoteSigningKey makes it sign and retires the one it replaces, which stays published so
// that the tokens it signed verify until they expire; RetireSigningKey unpublishes it.
//
// Roles are read off the rows, with no column of their own: the keys in use (RetiredAt nil)
// sign oldest first, so the oldest is current and a newer one is next; a retired key is
// previous. A deployment whose keys were never rotated has one key, current.

// SigningKey is a token signing key with its private half decrypted.
type SigningKey struct {
	ID         string
	Algorithm  string
	PublicDER  []byte
	PrivateDER []byte
	CreatedAt  time.Time
	Retired    bool
}

// SigningKeyInfo is a signing key as an operator sees it: never the private half.
type SigningKeyInfo struct {
	// Kid is the key's id, the JWS header's kid.
	Kid string
	// Role is current (signs), next (published, signs after PromoteSigningKey) or previous
	// (published until RetireSigningKey, signs nothing).
	Role      string
	Algorithm string
	// FingerprintSHA256 is the SHA-256 of the public key's DER (SubjectPublicKeyInfo), hex.
	FingerprintSHA256 string
	CreatedAt         time.Time
	RetiredAt         *time.Time
}

// NewSigningKey generates an ES256 signing key with a random kid.
func NewSigningKey() (*SigningKey, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	kid := make([]byte, 12)
	_, _ = rand.Read(kid)
	return &SigningKey{ID: base64.RawURLEncoding.EncodeToString(kid), Algorithm: "ES256",
		PublicDER: pubDER, PrivateDER: privDER}, nil
}

// SigningKeys returns every signing key, newest first, private halves decrypted.
func (s *Service) SigningKeys(ctx context.Context) ([]*SigningKey, error) {
	ks, err := s.store.SigningKeys(ctx)
	if err != nil {
		return nil, internal("signing keys", err)
	}
	out := make([]*SigningKey, 0, len(ks))
	for _, k := range ks {
		priv, err := s.box.Open(k.PrivateKeyEnc)
		if err != nil {
			return nil, internal("signing keys", err)
		}
		out = append(out, &SigningKey{ID: k.ID, Algorithm: k.Algorithm, PublicDER: k.PublicKey,
			PrivateDER: priv, CreatedAt: k.CreatedAt, Retired: k.RetiredAt != nil})
	}
	return out, nil
}

// CurrentSigningKey is the key that signs among keys (newest first, as SigningKeys returns
// them): the oldest still in use. Nil when every key is retired or there is none.
func CurrentSigningKey(keys []*SigningKey) *SigningKey {
	for i := len(keys) - 1; i >= 0; i-- {
		if !keys[i].Retired {
			return keys[i]
		}
	}
	return nil
}

// OnSigningKeysChanged sets what is told, once committed, of a rotation step taken through
// this service: the token endpoint reloads its keys at once rather than within seconds.
func (s *Service) OnSigningKeysChanged(f func()) { s.signingKeysChanged.Store(&f) }

// signingKeyStep runs one rotation step with its audit event, then tells OnSigningKeysChanged.
func (s *Service) signingKeyStep(ctx context.Context, p *Principal, m mutation, write func(ctx context.Context, p *Principal) (audited, error)) error {
	if err := s.mutateAs(ctx, p, m, write); err != nil {
		return err
	}
	if f := s.signingKeysChanged.Load(); f != nil {
		(*f)()
	}
	return nil
}

// AddSigningKey stores a new signing key, encrypting its private half.
func (s *Service) AddSigningKey(ctx context.Context, k *SigningKey) error {
	return internal("add signing key", s.store.Create(ctx, s.signingKeyRow(k)))
}

// signingKeyRow is k as stored, its private half encrypted, created now.
func (s *Service) signingKeyRow(k *SigningKey) *models.SigningKey {
	return &models.SigningKey{ID: k.ID, Algorithm: k.Algorithm, PublicKey: k.PublicDER,
		PrivateKeyEnc: s.box.Seal(k.PrivateDER), CreatedAt: s.now()}
}

// keysInUse are the rows (newest first) not retired, in the same order.
func keysInUse(rows []*models.SigningKey) []*models.SigningKey {
	var out []*models.SigningKey
	for _, r := range rows {
		if r.RetiredAt == nil {
			out = append(out, r)
		}
	}
	return out
}

// authorizeSigningKeys allows the platform admin only: the keys sign every workspace's tokens.
func (s *Service) authorizeSigningKeys(ctx context.Context) (*Principal, error) {
	return s.authorizePlatformAdmin(ctx, "only the platform admin client may manage the token signing keys: they sign every workspace's tokens")
}

// SigningKeyInfos lists the signing keys, current first, then next, then previous (platform
// admin only).
func (s *Service) SigningKeyInfos(ctx context.Context) ([]*SigningKeyInfo, error) {
	if _, err := s.authorizeSigningKeys(ctx); err != nil {
		return nil, err
	}
	rows, err := s.store.SigningKeys(ctx)
	if err != nil {
		return nil, internal("signing keys", err)
	}
	return signingKeyInfos(rows), nil
}

// signingKeyInfos gives rows (newest first) their roles, in the order current, next, previous.
func signingKeyInfos(rows []*models.SigningKey) []*SigningKeyInfo {
	var inUse, retired []*SigningKeyInfo
	for _, k := range slices.Backward(rows) { // oldest first
		sum := sha256.Sum256(k.PublicKey)
		info := &SigningKeyInfo{Kid: k.ID, Algorithm: k.Algorithm, FingerprintSHA256: hex.EncodeToString(sum[:]),
			CreatedAt: k.CreatedAt, RetiredAt: k.RetiredAt, Role: "previous"}
		if k.RetiredAt == nil {
			info.Role = "next"
			if len(inUse) == 0 {
				info.Role = "current"
			}
			inUse = append(inUse, info)
		} else {
			retired = append(retired, info)
		}
	}
	return append(inUse, retired...)
}

// StartSigningKeyRotation creates the next signing key and publishes it in the JWKS beside the
// current one, without signing with it, so that relying parties fetch it first. Every replica
// publishes it within seconds (package oauth reloads the keys every 5 s). INVALID_STATE when a next key exists already.
func (s *Service) StartSigningKeyRotation(ctx context.Context) (*SigningKeyInfo, error) {
	p, err := s.authorizeSigningKeys(ctx)
	if err != nil {
		return nil, err
	}
	k, err := NewSigningKey()
	if err != nil {
		return nil, internal("signing key", err)
	}
	var created *models.SigningKey
	err = s.signingKeyStep(ctx, p, mutation{action: "signing_key.rotation_started", target: "signing_key", op: "signing key rotation"},
		func(ctx context.Context, p *Principal) (audited, error) {
			rows, err := s.store.SigningKeys(ctx)
			if err != nil {
				return audited{}, err
			}
			if len(keysInUse(rows)) > 1 {
				return audited{}, models.Errorf(models.EINVALIDSTATE, "a next signing key exists already: promote it (once relying parties have fetched the JWKS) before starting another rotation")
			}
			created = s.signingKeyRow(k)
			return audited{id: k.ID}, s.store.Create(ctx, created)
		})
	if err != nil {
		return nil, err
	}
	info := signingKeyInfos([]*models.SigningKey{created})[0]
	info.Role = "next"
	return info, nil
}

// PromoteSigningKey makes the next signing key sign: the newest key in use becomes current and
// every other key in use is retired (previous), staying published so that the tokens it signed
// verify until they expire. A key retired earlier is unpublished now, as RetireSigningKey
// would. INVALID_STATE when no rotation was started.
func (s *Service) PromoteSigningKey(ctx context.Context) error {
	p, err := s.authorizeSigningKeys(ctx)
	if err != nil {
		return err
	}
	return s.signingKeyStep(ctx, p, mutation{action: "signing_key.promoted", target: "signing_key", op: "signing key promotion"},
		func(ctx context.Context, p *Principal) (audited, error) {
			rows, err := s.store.SigningKeys(ctx) // newest first
			if err != nil {
				return audited{}, err
			}
			inUse := keysInUse(rows)
			if len(inUse) < 2 {
				return audited{}, models.Errorf(models.EINVALIDSTATE, "there is no next signing key to promote: start a rotation first")
			}
			next := inUse[0] // the newest
			if err := s.store.DeleteRetiredSigningKeys(ctx); err != nil && !errors.Is(err, store.ErrNotFound) {
				return audited{}, err
			}
			return audited{id: next.ID}, s.store.RetireSigningKeysExcept(ctx, next.ID, s.now())
		})
}

// RetireSigningKey unpublishes the previous signing key: tokens it signed no longer verify
// (wait until they have expired, TokenLifetime after the promotion, unless the key leaked).
// INVALID_STATE when there is none.
func (s *Service) RetireSigningKey(ctx context.Context) error {
	p, err := s.authorizeSigningKeys(ctx)
	if err != nil {
		return err
	}
	return s.signingKeyStep(ctx, p, mutation{action: "signing_key.retired", target: "signing_key", op: "signing key retirement"},
		func(ctx context.Context, p *Principal) (audited, error) {
			err := s.store.DeleteRetiredSigningKeys(ctx)
			if errors.Is(err, store.ErrNotFound) {
				return audited{}, models.Errorf(models.EINVALIDSTATE, "there is no previous signing key to retire")
			}
			return audited{id: "previous"}, err
		})
}
