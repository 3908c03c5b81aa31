package provision

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gatehouse/models"
	"gatehouse/secret"
	"gatehouse/store"
)

// The token signing keys: ES256 key pairs that sign access tokens and id_tokens, and RS256
// ones for the id_tokens of applications that ask for RS256 (models.IDTokenRS256; the first
// such application creates the first RS256 key), all published in the JWKS. They rotate in
// two steps, like the SAML SP keys, because a relying party caches the JWKS (Gatehouse lets it
// for 5 minutes, many libraries longer) and may not fetch it again for an unknown kid:
// StartSigningKeyRotation publishes a next key without signing with it; PromoteSigningKey
// makes it sign and retires the one it replaces, which stays published so that the tokens it
// signed verify until they expire; RetireSigningKey unpublishes it. Each step acts on every
// algorithm in use at once, so that an operator rotates "the keys", not one chain at a time.
//
// Roles are read off the rows, with no column of their own, per algorithm: the keys of an
// algorithm in use (RetiredAt nil) sign oldest first, so the oldest is current and a newer one
// is next; a retired key is previous. A deployment whose keys were never rotated has one key
// per algorithm, current.

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

// NewSigningKey generates a signing key for alg with a random kid: a P-256 key for ES256, an
// RSA-2048 key for RS256.
func NewSigningKey(alg models.IDTokenAlg) (*SigningKey, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case models.IDTokenES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case models.IDTokenRS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		err = fmt.Errorf("unknown algorithm %q", alg)
	}
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	kid := make([]byte, 12)
	_, _ = rand.Read(kid)
	return &SigningKey{ID: base64.RawURLEncoding.EncodeToString(kid), Algorithm: string(alg),
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
		priv, err := OpenSigningKey(s.box, k.PrivateKeyEnc)
		if err != nil {
			return nil, err
		}
		out = append(out, &SigningKey{ID: k.ID, Algorithm: k.Algorithm, PublicDER: k.PublicKey,
			PrivateDER: priv, CreatedAt: k.CreatedAt, Retired: k.RetiredAt != nil})
	}
	return out, nil
}

// OpenSigningKey opens a signing key's sealed private half with box, failing as SigningKeys
// does when box's keys open none of it (the wrong encryption key): a start checks its key with
// it before it migrates the database, and refuses with the message it would have refused with
// at the signing keys.
func OpenSigningKey(box *secret.Box, sealed []byte) ([]byte, error) {
	priv, err := box.Open(sealed)
	if err != nil {
		return nil, internal("signing keys", err)
	}
	return priv, nil
}

// CurrentSigningKey is the key of alg that signs among keys (newest first, as SigningKeys
// returns them): the oldest of alg still in use. Nil when there is none.
func CurrentSigningKey(keys []*SigningKey, alg models.IDTokenAlg) *SigningKey {
	for i := len(keys) - 1; i >= 0; i-- {
		if !keys[i].Retired && keys[i].Algorithm == string(alg) {
			return keys[i]
		}
	}
	return nil
}

// ensureSigningKey makes sure a key of alg is in use for an application the caller p is
// creating or changing, creating the first one, audited as p's: the application's key is
// published before its first sign-in. ES256 keys always exist (package oauth creates the first
// at start).
func (s *Service) ensureSigningKey(ctx context.Context, p *Principal, alg models.IDTokenAlg) error {
	if alg != models.IDTokenRS256 {
		return nil
	}
	return s.makeSigningKey(ctx, p, alg)
}

// EnsureSigningKey creates a key of alg when none is in use: the token endpoint's last resort,
// for an application whose key is gone. A key made here is logged, not audited: no caller
// asked for it.
func (s *Service) EnsureSigningKey(ctx context.Context, alg models.IDTokenAlg) error {
	return s.makeSigningKey(ctx, nil, alg)
}

// makeSigningKey creates a key of alg when none is in use; p, when set, is the caller whose
// audit event records it. Callers on this replica take turns (signingKeyMaking), and the store
// adds a key only when still none is in use (AddSigningKeyIfNone), so that the first key of
// an algorithm is one key whatever the concurrency, on one replica or several.
func (s *Service) makeSigningKey(ctx context.Context, p *Principal, alg models.IDTokenAlg) error {
	if inUse, err := s.signingKeyInUse(ctx, alg); err != nil || inUse {
		return err
	}
	s.signingKeyMaking.Lock()
	defer s.signingKeyMaking.Unlock()
	if inUse, err := s.signingKeyInUse(ctx, alg); err != nil || inUse { // made while this caller waited
		return err
	}
	k, err := NewSigningKey(alg)
	if err != nil {
		return internal("signing key", err)
	}
	row := s.signingKeyRow(k)
	var added bool
	if p == nil {
		if added, err = s.store.AddSigningKeyIfNone(ctx, row); err != nil {
			return internal("add signing key", err)
		}
	} else {
		err := s.mutateAs(ctx, p, mutation{action: "signing_key.created", target: "signing_key", op: "signing key creation"},
			func(ctx context.Context, p *Principal) (_ audited, err error) {
				if added, err = s.store.AddSigningKeyIfNone(ctx, row); err != nil || !added {
					return audited{unchanged: true}, err
				}
				return audited{id: k.ID, summary: map[string]any{"algorithm": k.Algorithm}}, nil
			})
		if err != nil {
			return err
		}
	}
	if !added { // another replica made one meanwhile
		return nil
	}
	s.log.InfoContext(ctx, "signing key created", "kid", k.ID, "algorithm", k.Algorithm)
	if f := s.signingKeysChanged.Load(); f != nil {
		(*f)()
	}
	return nil
}

// signingKeyInUse reports whether a key of alg is in use.
func (s *Service) signingKeyInUse(ctx context.Context, alg models.IDTokenAlg) (bool, error) {
	rows, err := s.store.SigningKeys(ctx)
	if err != nil {
		return false, internal("signing keys", err)
	}
	return len(keysInUse(rows, alg)) > 0, nil
}

// OnSigningKeysChanged sets what is told, once committed, of a rotation step taken through
// this service: the token endpoint reloads its keys at once rather than within seconds.
func (s *Service) OnSigningKeysChanged(f func()) { s.signingKeysChanged.Store(&f) }

// signingKeyStep runs one rotation step with its audit event, then tells OnSigningKeysChanged.
//
// The steps decide from the keys they read (which one is next, which are retired), so each
// runs alone (store.LockSigningKeys) and reads them after the others' commits: two promotions
// at once (a button pressed twice) would otherwise both promote, the second deleting as
// retired the key the first had just retired, which signed every token still in use.
func (s *Service) signingKeyStep(ctx context.Context, p *Principal, m mutation, write func(ctx context.Context, p *Principal) (audited, error)) error {
	locked := func(ctx context.Context, p *Principal) (audited, error) {
		if err := s.store.LockSigningKeys(ctx); err != nil {
			return audited{}, err
		}
		return write(ctx, p)
	}
	if err := s.mutateAs(ctx, p, m, locked); err != nil {
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

// keysInUse are the rows (newest first) of alg not retired, in the same order.
func keysInUse(rows []*models.SigningKey, alg models.IDTokenAlg) []*models.SigningKey {
	var out []*models.SigningKey
	for _, r := range rows {
		if r.RetiredAt == nil && r.Algorithm == string(alg) {
			out = append(out, r)
		}
	}
	return out
}

// algorithmsInUse are the algorithms with a key in use, in models.IDTokenSigningAlgs' order.
func algorithmsInUse(rows []*models.SigningKey) []models.IDTokenAlg {
	var out []models.IDTokenAlg
	for _, alg := range models.IDTokenSigningAlgs {
		if len(keysInUse(rows, alg)) > 0 {
			out = append(out, alg)
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

// signingKeyInfos gives rows (newest first) their roles, each algorithm's keys apart, in the
// order current, next, previous (oldest first within a role).
func signingKeyInfos(rows []*models.SigningKey) []*SigningKeyInfo {
	var current, next, previous []*SigningKeyInfo
	signing := map[string]bool{}              // an algorithm whose current key is seen
	for _, k := range slices.Backward(rows) { // oldest first
		sum := sha256.Sum256(k.PublicKey)
		info := &SigningKeyInfo{Kid: k.ID, Algorithm: k.Algorithm, FingerprintSHA256: hex.EncodeToString(sum[:]),
			CreatedAt: k.CreatedAt, RetiredAt: k.RetiredAt}
		switch {
		case k.RetiredAt != nil:
			info.Role = "previous"
			previous = append(previous, info)
		case signing[k.Algorithm]:
			info.Role = "next"
			next = append(next, info)
		default:
			info.Role = "current"
			signing[k.Algorithm] = true
			current = append(current, info)
		}
	}
	return slices.Concat(current, next, previous)
}

// StartSigningKeyRotation creates the next signing key of each algorithm in use and publishes
// it in the JWKS beside the current one, without signing with it, so that relying parties
// fetch it first. Every replica publishes them within seconds (package oauth reloads the keys
// every 5 s). It returns the new keys, ES256's first. INVALID_STATE when a next key exists
// already.
func (s *Service) StartSigningKeyRotation(ctx context.Context) ([]*SigningKeyInfo, error) {
	p, err := s.authorizeSigningKeys(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := s.store.SigningKeys(ctx)
	if err != nil {
		return nil, internal("signing keys", err)
	}
	// The keys are made before the transaction: an RSA key takes a fifth of a second.
	algs := algorithmsInUse(rows)
	if len(algs) == 0 {
		algs = []models.IDTokenAlg{models.IDTokenES256}
	}
	made := make([]*SigningKey, len(algs))
	for i, alg := range algs {
		if made[i], err = NewSigningKey(alg); err != nil {
			return nil, internal("signing key", err)
		}
	}
	var created []*models.SigningKey
	err = s.signingKeyStep(ctx, p, mutation{action: "signing_key.rotation_started", target: "signing_key", op: "signing key rotation"},
		func(ctx context.Context, p *Principal) (audited, error) {
			rows, err := s.store.SigningKeys(ctx)
			if err != nil {
				return audited{}, err
			}
			created = nil
			var ids []string
			for _, k := range made {
				if len(keysInUse(rows, models.IDTokenAlg(k.Algorithm))) > 1 {
					return audited{}, models.Errorf(models.EINVALIDSTATE, "a next signing key exists already: promote it (once relying parties have fetched the JWKS) before starting another rotation")
				}
				row := s.signingKeyRow(k)
				if err := s.store.Create(ctx, row); err != nil {
					return audited{}, err
				}
				created, ids = append(created, row), append(ids, k.ID)
			}
			return audited{id: strings.Join(ids, ",")}, nil
		})
	if err != nil {
		return nil, err
	}
	slices.Reverse(created) // newest first, as signingKeyInfos reads rows: ES256's key comes first
	infos := signingKeyInfos(created)
	for _, info := range infos {
		info.Role = "next"
	}
	return infos, nil
}

// PromoteSigningKey makes the next signing keys sign: for each algorithm, the newest key in
// use becomes current and every other key in use is retired (previous), staying published so
// that the tokens it signed verify until they expire. A key retired earlier is unpublished now,
// as RetireSigningKey would. INVALID_STATE when no rotation was started.
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
			var keep, promoted []string
			for _, alg := range algorithmsInUse(rows) {
				inUse := keysInUse(rows, alg)
				keep = append(keep, inUse[0].ID) // the newest
				if len(inUse) > 1 {
					promoted = append(promoted, inUse[0].ID)
				}
			}
			if len(promoted) == 0 {
				return audited{}, models.Errorf(models.EINVALIDSTATE, "there is no next signing key to promote: start a rotation first")
			}
			if err := s.store.DeleteRetiredSigningKeys(ctx); err != nil && !errors.Is(err, store.ErrNotFound) {
				return audited{}, err
			}
			return audited{id: strings.Join(promoted, ",")}, s.store.RetireSigningKeysExcept(ctx, keep, s.now())
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
