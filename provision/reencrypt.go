package provision

import (
	"context"

	"gatehouse/models"
)

// ReencryptReport is what ReencryptSecrets did, by column ("table.column").
type ReencryptReport struct {
	// KeyID names the current key (secret.Box.KeyID), which every value resealed is under.
	KeyID string
	// Resealed counts the values moved to the current encryption key.
	Resealed map[string]int
	// Unreadable counts the values no configured key opens, left as they were.
	Unreadable map[string]int
}

// ReencryptSecrets seals every secret at rest with the current encryption key
// (GATEHOUSE_ENCRYPTION_KEY): the values sealed with a previous key
// (GATEHOUSE_PREVIOUS_ENCRYPTION_KEYS) are opened with it and sealed again; the others stay.
// Once it has run, the previous keys can be retired (docs/administration.md). It is the
// platform admin's, as the operator command runs it, and is recorded in the audit log with
// the counts. Running it again changes nothing.
func (s *Service) ReencryptSecrets(ctx context.Context) (ReencryptReport, error) {
	p, err := s.authorize(ctx, accessAdmin)
	if err != nil {
		return ReencryptReport{}, err
	}
	if !p.PlatformAdmin {
		return ReencryptReport{}, models.Errorf(models.EFORBIDDEN, "only the platform admin can re-encrypt the secrets at rest")
	}
	resealed, unreadable, err := s.store.ResealSecrets(ctx, s.box.Reseal)
	r := ReencryptReport{KeyID: s.box.KeyID(), Resealed: resealed, Unreadable: unreadable}
	summary := map[string]any{"keyId": r.KeyID, "resealed": resealed, "unreadable": unreadable}
	if err != nil {
		// What was resealed before the failure stays so (each batch committed): say so, if
		// the database takes the record.
		summary["failed"] = true
		_ = s.audit(ctx, p, "encryption_key.reencrypted", "encryption_key", "current", summary)
		return r, internal("reencrypt secrets", err)
	}
	err = s.audit(ctx, p, "encryption_key.reencrypted", "encryption_key", "current", summary)
	return r, internal("reencrypt secrets", err)
}
