// Package oauth is the OAuth 2.0 surface: the client-credentials token endpoint (RFC 6749
// §4.4), access tokens as signed JWTs (RFC 9068 profile), the JWKS and authorization server
// metadata (RFC 8414), and verification of bearer tokens for the other transports. Client
// authentication and scope rules live in package provision; this package only speaks HTTP
// and JOSE.
package oauth

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
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"

	"gatehouse/clock"
	"gatehouse/models"
	"gatehouse/provision"
)

// keyRefreshInterval is how old the keys may get before they are read again from the database:
// a rotation step taken on any replica (provision.StartSigningKeyRotation, PromoteSigningKey,
// RetireSigningKey) reaches every replica's JWKS and signer within it, and an unknown kid makes
// a verification read them again at most this often.
const keyRefreshInterval = 5 * time.Second

// keySet holds the signing key in use and every public key still published.
type keySet struct {
	svc   *provision.Service
	clock clock.Clock

	mu     sync.RWMutex
	signer *jwsSigner
	// idSigners sign id_tokens, by algorithm: ES256's is signer's key with typ JWT (id_tokens
	// are not access tokens, RFC 9068 §2.1); RS256's is there once an application asked for it.
	idSigners map[models.IDTokenAlg]*jwsSigner
	// public are the ES256 keys, the only ones an access token may be signed with; idPublic are
	// all the published keys, which an id_token (an id_token_hint) may be signed with.
	public   map[string]*ecdsa.PublicKey
	idPublic map[string]crypto.PublicKey
	jwks     jose.JSONWebKeySet
	loadedAt time.Time
	// loads numbers each load as it starts reading; stored is the number of the load whose
	// keys are in hand. A load that read before another (a background reload under way when a
	// rotation step's reload runs) must not overwrite the later one's keys when it finishes
	// after it: a retired key would be published, and verify tokens, until the next reload.
	loads  atomic.Uint64
	stored uint64 // under mu

	// afterRead, when set (tests only), runs in each load between its read and its store: it
	// lets a test hold one load there while another completes.
	afterRead func()

	refreshing atomic.Bool  // a background reload is running
	nextReload atomic.Int64 // unix nanoseconds: no background reload before (success or not)
	log        *slog.Logger
}

// accessSigner returns the access-token signer, and starts a reload in the background when
// one is due (every keyRefreshInterval): the request at hand signs with the key it has, never
// waiting for the database.
func (ks *keySet) accessSigner() *jwsSigner {
	ks.mu.RLock()
	access := ks.signer
	ks.mu.RUnlock()
	ks.refreshInBackground()
	return access
}

// signers returns the access-token signer and the id_token signer of alg, and starts a reload
// in the background when one is due (every keyRefreshInterval): the request at hand signs
// with the key it has, never waiting for the database. Only an id_token algorithm without a
// key yet (the first RS256 application's key made on another replica within seconds, or lost)
// waits: its key is made, or read, and loaded.
func (ks *keySet) signers(ctx context.Context, alg models.IDTokenAlg) (access, id *jwsSigner, err error) {
	if alg == "" {
		alg = models.IDTokenES256
	}
	ks.mu.RLock()
	access, id = ks.signer, ks.idSigners[alg]
	ks.mu.RUnlock()
	ks.refreshInBackground()
	if id != nil {
		return access, id, nil
	}
	// The key is made, or read, whether or not this request's client waits for it.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := ks.svc.EnsureSigningKey(ctx, alg); err != nil {
		return nil, nil, err
	}
	if err := ks.load(ctx, false); err != nil {
		return nil, nil, err
	}
	ks.mu.RLock()
	access, id = ks.signer, ks.idSigners[alg]
	ks.mu.RUnlock()
	if id == nil {
		return nil, nil, fmt.Errorf("oauth: no %s signing key", alg)
	}
	return access, id, nil
}

// published returns the JWKS, refreshed in the background like signers.
func (ks *keySet) published() jose.JSONWebKeySet {
	ks.mu.RLock()
	set := ks.jwks
	ks.mu.RUnlock()
	ks.refreshInBackground()
	return set
}

// refreshInBackground starts a reload when one is due: at most one runs at a time, and the
// next is due keyRefreshInterval after this one started, whether it succeeds or not, so that a
// database that is down is not asked again by every request (nor the log told each time).
func (ks *keySet) refreshInBackground() {
	now := ks.clock.Now().UnixNano()
	if now < ks.nextReload.Load() || !ks.refreshing.CompareAndSwap(false, true) {
		return
	}
	ks.nextReload.Store(now + int64(keyRefreshInterval))
	go func() {
		defer ks.refreshing.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := ks.load(ctx, false); err != nil && ks.log != nil {
			// The keys in hand go on signing; the next reload is due in keyRefreshInterval.
			ks.log.Warn("oauth: reload signing keys", "err", err)
		}
	}()
}

func newKeySet(ctx context.Context, svc *provision.Service, log *slog.Logger) (*keySet, error) {
	ks := &keySet{svc: svc, clock: svc.Clock(), log: log}
	if err := ks.load(ctx, true); err != nil {
		return nil, err
	}
	// A rotation step taken on this replica shows at once in its JWKS and signer.
	svc.OnSigningKeysChanged(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := ks.load(ctx, false); err != nil && log != nil {
			log.Warn("oauth: reload signing keys", "err", err)
		}
	})
	return ks, nil
}

// load reads the keys from the database, creating the first one when there is none.
func (ks *keySet) load(ctx context.Context, createIfNone bool) error {
	seq := ks.loads.Add(1)
	keys, err := ks.svc.SigningKeys(ctx)
	if err != nil {
		return err
	}
	active := provision.CurrentSigningKey(keys, models.IDTokenES256)
	if active == nil && createIfNone {
		k, err := provision.NewSigningKey(models.IDTokenES256)
		if err != nil {
			return err
		}
		if err := ks.svc.AddSigningKey(ctx, k); err != nil {
			return err
		}
		return ks.load(ctx, false)
	}
	if active == nil {
		return fmt.Errorf("oauth: no active signing key")
	}
	public, idPublic := map[string]*ecdsa.PublicKey{}, map[string]crypto.PublicKey{}
	var set jose.JSONWebKeySet
	for _, k := range keys {
		pub, err := x509.ParsePKIXPublicKey(k.PublicDER)
		if err != nil {
			return fmt.Errorf("oauth: signing key %s: %w", k.ID, err)
		}
		switch key := pub.(type) {
		case *ecdsa.PublicKey:
			if k.Algorithm != string(models.IDTokenES256) {
				return fmt.Errorf("oauth: signing key %s is ECDSA, not %s", k.ID, k.Algorithm)
			}
			public[k.ID] = key
		case *rsa.PublicKey:
			if k.Algorithm != string(models.IDTokenRS256) {
				return fmt.Errorf("oauth: signing key %s is RSA, not %s", k.ID, k.Algorithm)
			}
		default:
			return fmt.Errorf("oauth: signing key %s is neither ECDSA nor RSA", k.ID)
		}
		idPublic[k.ID] = pub
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: pub, KeyID: k.ID, Algorithm: k.Algorithm, Use: "sig"})
	}
	idSigners := map[models.IDTokenAlg]*jwsSigner{}
	var signer *jwsSigner
	for _, alg := range models.IDTokenSigningAlgs {
		k := provision.CurrentSigningKey(keys, alg)
		if k == nil {
			continue
		}
		priv, err := x509.ParsePKCS8PrivateKey(k.PrivateDER)
		if err != nil {
			return fmt.Errorf("oauth: signing key %s: %w", k.ID, err)
		}
		key, ok := priv.(crypto.Signer)
		if !ok || jwsAlgorithm(key) != alg {
			return fmt.Errorf("oauth: signing key %s is not an %s key", k.ID, alg)
		}
		idSigners[alg] = newJWSSigner(key, k.ID, "JWT")
		if alg == models.IDTokenES256 {
			signer = newJWSSigner(key, k.ID, "at+jwt")
		}
	}
	if ks.afterRead != nil {
		ks.afterRead()
	}
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if seq < ks.stored {
		return nil // a load that read later has stored already
	}
	now := ks.clock.Now()
	ks.signer, ks.idSigners, ks.public, ks.idPublic, ks.jwks, ks.loadedAt, ks.stored = signer, idSigners, public, idPublic, set, now, seq
	ks.nextReload.Store(now.Add(keyRefreshInterval).UnixNano())
	return nil
}

// publishes reports whether kid is a published key: a verified token stays verified only
// while the key that signed it is.
// The keys are refreshed in the background like signers, so that a replica that only verifies
// learns of a retirement too.
func (ks *keySet) publishes(kid string) bool {
	ks.mu.RLock()
	_, ok := ks.public[kid]
	ks.mu.RUnlock()
	ks.refreshInBackground()
	return ok
}

// publicKey returns the ES256 key for kid (an access token's), reloading from the database at
// most every few seconds when the kid is unknown.
func (ks *keySet) publicKey(ctx context.Context, kid string) *ecdsa.PublicKey {
	return lookupKey(ks, ctx, func() *ecdsa.PublicKey { return ks.public[kid] })
}

// idTokenKey returns any published key for kid (an id_token's, ES256 or RS256), reloading as
// publicKey does.
func (ks *keySet) idTokenKey(ctx context.Context, kid string) crypto.PublicKey {
	return lookupKey(ks, ctx, func() crypto.PublicKey { return ks.idPublic[kid] })
}

// lookupKey reads a key with find under the lock, and once more after a reload when it is
// not there and the keys are older than keyRefreshInterval.
func lookupKey[K comparable](ks *keySet, ctx context.Context, find func() K) K {
	var none K
	ks.mu.RLock()
	k, stale := find(), ks.clock.Now().Sub(ks.loadedAt) > keyRefreshInterval
	ks.mu.RUnlock()
	if k == none && stale {
		if err := ks.load(ctx, false); err == nil {
			ks.mu.RLock()
			k = find()
			ks.mu.RUnlock()
		}
	}
	return k
}

// jwsSigner signs JWTs, ES256 or RS256, in compact serialisation (RFC 7515). Token issuance
// is the hottest path of the server; signing directly (header encoded once, claims marshalled
// with encoding/json) costs about a third of a general-purpose JOSE signer. Verification,
// which must accept anything well-formed, stays with go-jose.
type jwsSigner struct {
	key    crypto.Signer // *ecdsa.PrivateKey (ES256) or *rsa.PrivateKey (RS256)
	header string        // base64url of the protected header, with the kid
	sigLen int           // bytes of a signature: 64 for ES256, the modulus's for RS256
}

// jwsAlgorithm is the JWS algorithm Gatehouse signs with key: ES256 for a P-256 key, RS256 for
// an RSA one, "" for any other.
func jwsAlgorithm(key crypto.Signer) models.IDTokenAlg {
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		if k.Curve == elliptic.P256() {
			return models.IDTokenES256
		}
	case *rsa.PrivateKey:
		return models.IDTokenRS256
	}
	return ""
}

func newJWSSigner(key crypto.Signer, kid, typ string) *jwsSigner {
	h, _ := json.Marshal(map[string]string{"alg": string(jwsAlgorithm(key)), "kid": kid, "typ": typ})
	sigLen := 64
	if k, ok := key.(*rsa.PrivateKey); ok {
		sigLen = k.Size()
	}
	return &jwsSigner{key: key, header: base64.RawURLEncoding.EncodeToString(h), sigLen: sigLen}
}

// sign returns the compact JWS of the JSON encoding of claims.
func (s *jwsSigner) sign(claims any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("oauth: %w", err)
	}
	return s.signPayload(payload)
}

// signPayload returns the compact JWS of payload, a JSON object.
func (s *jwsSigner) signPayload(payload []byte) (string, error) {
	enc := base64.RawURLEncoding
	buf := make([]byte, 0, len(s.header)+1+enc.EncodedLen(len(payload))+1+enc.EncodedLen(s.sigLen))
	buf = append(buf, s.header...)
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, payload)
	digest := sha256.Sum256(buf)
	var es256 [64]byte // ES256 signatures are r||s, each 32 bytes big-endian (RFC 7518 §3.4)
	var sig []byte
	switch k := s.key.(type) {
	case *ecdsa.PrivateKey:
		r, sv, err := ecdsa.Sign(rand.Reader, k, digest[:])
		if err != nil {
			return "", fmt.Errorf("oauth: sign: %w", err)
		}
		r.FillBytes(es256[:32])
		sv.FillBytes(es256[32:])
		sig = es256[:]
	case *rsa.PrivateKey:
		var err error
		if sig, err = rsa.SignPKCS1v15(nil, k, crypto.SHA256, digest[:]); err != nil { // RFC 7518 §3.3
			return "", fmt.Errorf("oauth: sign: %w", err)
		}
	default:
		return "", fmt.Errorf("oauth: sign: unsupported key %T", s.key)
	}
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, sig)
	return string(buf), nil
}
