package store

import (
	"context"
	"time"

	"github.com/google/uuid"

	"gatehouse/models"
)

// UseSAMLAssertion records that the assertion ID sent by a connection's IdP was accepted. It
// reports false when the ID was recorded before (a replay). The insert is one statement that
// cannot fail on the conflict, so it may run inside a transaction on PostgreSQL too.
func (s *Store) UseSAMLAssertion(ctx context.Context, connectionID uuid.UUID, assertionID string, expiresAt time.Time) (bool, error) {
	res := s.db(ctx).Exec(`INSERT INTO saml_assertions (connection_id, assertion_id, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (connection_id, assertion_id) DO NOTHING`, connectionID, assertionID, expiresAt.UTC())
	if res.Error != nil {
		return false, translate(res.Error)
	}
	return res.RowsAffected == 1, nil
}

// PruneSAMLAssertions deletes the assertion IDs that expired before t.
func (s *Store) PruneSAMLAssertions(ctx context.Context, t time.Time) (int64, error) {
	res := s.db(ctx).Exec(`DELETE FROM saml_assertions WHERE expires_at < ?`, t.UTC())
	return res.RowsAffected, translate(res.Error)
}

// SAMLSPKeys loads every stored service provider key (current, next, previous).
func (s *Store) SAMLSPKeys(ctx context.Context) ([]*models.SAMLSPKey, error) {
	var ks []*models.SAMLSPKey
	err := s.db(ctx).Order("created_at").Find(&ks).Error
	return ks, translate(err)
}

// PromoteSAMLSPKey makes the next key current in one transaction: the current key becomes the
// previous one (replacing an older previous key) and the next key becomes current. It returns
// ErrNotFound when there is no next key.
func (s *Store) PromoteSAMLSPKey(ctx context.Context) error {
	return s.InTx(ctx, func(ctx context.Context) error {
		db := s.db(ctx)
		var n int64
		if err := db.Model(&models.SAMLSPKey{}).Where("id = ?", models.SPKeyNext).Count(&n).Error; err != nil {
			return translate(err)
		}
		if n == 0 {
			return ErrNotFound
		}
		for _, st := range [][]any{
			{"DELETE FROM saml_sp_keys WHERE id = ?", models.SPKeyPrevious},
			{"UPDATE saml_sp_keys SET id = ? WHERE id = ?", models.SPKeyPrevious, models.SPKeyCurrent},
			{"UPDATE saml_sp_keys SET id = ? WHERE id = ?", models.SPKeyCurrent, models.SPKeyNext},
		} {
			if err := db.Exec(st[0].(string), st[1:]...).Error; err != nil {
				return translate(err)
			}
		}
		return nil
	})
}

// DeleteSAMLSPKey removes the key with the given role; ErrNotFound when there is none.
func (s *Store) DeleteSAMLSPKey(ctx context.Context, id string) error {
	res := s.db(ctx).Where("id = ?", id).Delete(&models.SAMLSPKey{})
	if res.Error == nil && res.RowsAffected == 0 {
		return ErrNotFound
	}
	return translate(res.Error)
}
