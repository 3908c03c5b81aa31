// Package oauth is the OAuth 2.0 surface: the client-credentials token endpoint (RFC 6749
// §4.4), access tokens as signed JWTs (RFC 9068 profile), the JWKS and authorization server
// metadata (RFC 8414), and verification of bearer tokens for the other transports. Client
// authentication and scope rules live in package provision; this package only speaks HTTP
// and JOSE.
package oauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
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

	mu       sync.RWMutex
	signer   *jwsSigner
	idSigner *jwsSigner // the same key, typ JWT: id_tokens are not access tokens (RFC 9068 §2.1)
	public   map[string]*ecdsa.PublicKey
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

// signers returns the access-token and id_token signers, and starts a reload in the
// background when one is due (every keyRefreshInterval): the request at hand signs with the
// key it has, never waiting for the database.
func (ks *keySet) signers() (access, id *jwsSigner) {
	ks.mu.RLock()
	access, id = ks.signer, ks.idSigner
	ks.mu.RUnlock()
	ks.refreshInBackground()
	return access, id
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
	active := provision.CurrentSigningKey(keys)
	if active == nil && createIfNone {
		k, err := provision.NewSigningKey()
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
	public := map[string]*ecdsa.PublicKey{}
	var set jose.JSONWebKeySet
	for _, k := range keys {
		pub, err := x509.ParsePKIXPublicKey(k.PublicDER)
		if err != nil {
			return fmt.Errorf("oauth: signing key %s: %w", k.ID, err)
		}
		ec, ok := pub.(*ecdsa.PublicKey)
		if !ok {
			return fmt.Errorf("oauth: signing key %s is not ECDSA", k.ID)
		}
		public[k.ID] = ec
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: ec, KeyID: k.ID, Algorithm: string(jose.ES256), Use: "sig"})
	}
	priv, err := x509.ParsePKCS8PrivateKey(active.PrivateDER)
	if err != nil {
		return fmt.Errorf("oauth: signing key %s: %w", active.ID, err)
	}
	ecPriv, ok := priv.(*ecdsa.PrivateKey)
	if !ok {
		return fmt.Errorf("oauth: signing key %s is not ECDSA", active.ID)
	}
	signer, idSigner := newJWSSigner(ecPriv, active.ID, "at+jwt"), newJWSSigner(ecPriv, active.ID, "JWT")
	if ks.afterRead != nil {
		ks.afterRead()
	}
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if seq < ks.stored {
		return nil // a load that read later has stored already
	}
	now := ks.clock.Now()
	ks.signer, ks.idSigner, ks.public, ks.jwks, ks.loadedAt, ks.stored = signer, idSigner, public, set, now, seq
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

// publicKey returns the key for kid, reloading from the database at most every few seconds
// when the kid is unknown.
func (ks *keySet) publicKey(ctx context.Context, kid string) *ecdsa.PublicKey {
	ks.mu.RLock()
	k, stale := ks.public[kid], ks.clock.Now().Sub(ks.loadedAt) > keyRefreshInterval
	ks.mu.RUnlock()
	if k == nil && stale {
		if err := ks.load(ctx, false); err == nil {
			ks.mu.RLock()
			k = ks.public[kid]
			ks.mu.RUnlock()
		}
	}
	return k
}

// jwsSigner signs JWTs with ES256 in compact serialisation (RFC 7515). Token issuance is the
// hottest path of the server; signing directly (header encoded once, claims marshalled with
// encoding/json) costs about a third of a general-purpose JOSE signer. Verification, which
// must accept anything well-formed, stays with go-jose.
type jwsSigner struct {
	key    *ecdsa.PrivateKey
	header string // base64url of the protected header, with the kid
}

func newJWSSigner(key *ecdsa.PrivateKey, kid, typ string) *jwsSigner {
	h, _ := json.Marshal(map[string]string{"alg": "ES256", "kid": kid, "typ": typ})
	return &jwsSigner{key: key, header: base64.RawURLEncoding.EncodeToString(h)}
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
	buf := make([]byte, 0, len(s.header)+1+enc.EncodedLen(len(payload))+1+enc.EncodedLen(64))
	buf = append(buf, s.header...)
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, payload)
	digest := sha256.Sum256(buf)
	r, sv, err := ecdsa.Sign(rand.Reader, s.key, digest[:])
	if err != nil {
		return "", fmt.Errorf("oauth: sign: %w", err)
	}
	var sig [64]byte // ES256 signatures are r||s, each 32 bytes big-endian (RFC 7518 §3.4)
	r.FillBytes(sig[:32])
	sv.FillBytes(sig[32:])
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, sig[:])
	return string(buf), nil
}
