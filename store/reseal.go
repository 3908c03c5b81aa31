package store

import (
	"context"
	"fmt"
)

// sealedColumns are the columns whose values are sealed with the encryption key
// (secret.Box), each with its table's key column. TestSealedColumnsListEveryEncryptedColumn
// holds the list to the migrations: a new *_enc column must be added here, or a key rotation
// would leave its values to the old key.
var sealedColumns = []struct{ table, key, column string }{
	{"signing_keys", "id", "private_key_enc"},
	{"saml_sp_keys", "id", "private_key_enc"},
	{"connections", "id", "oidc_client_secret_enc"},
	{"sign_in_flows", "id", "upstream_verifier_enc"},
	{"saml_answers", "flow_id", "identity_enc"},
}

// ResealSecrets passes every sealed value of the database to reseal and writes back those it
// changed, column by column, each column in one transaction (its rows are few: keys,
// connections, and the sign-in state of the last minutes). The counts are by column, named
// "table.column". A value reseal fails on is left as it is and counted in failed; the others
// go on.
// Errors: ErrUnavailable.
func (s *Store) ResealSecrets(ctx context.Context, reseal func([]byte) ([]byte, bool, error)) (resealed, failed map[string]int, err error) {
	resealed, failed = map[string]int{}, map[string]int{}
	for _, c := range sealedColumns {
		name := c.table + "." + c.column
		err := s.InTx(ctx, func(ctx context.Context) error {
			var rows []struct {
				K string
				V []byte
			}
			q := fmt.Sprintf("SELECT %s AS k, %s AS v FROM %s WHERE %s IS NOT NULL", c.key, c.column, c.table, c.column)
			if err := translate(s.db(ctx).Raw(q).Scan(&rows).Error); err != nil {
				return err
			}
			for _, r := range rows {
				v, changed, err := reseal(r.V)
				switch {
				case err != nil:
					failed[name]++
				case changed:
					// Only if the value is still the one read: a server that wrote it anew
					// meanwhile (an admin's new client secret) sealed it with the current key.
					u := fmt.Sprintf("UPDATE %s SET %s = ? WHERE %s = ? AND %s = ?", c.table, c.column, c.key, c.column)
					res := s.db(ctx).Exec(u, v, r.K, r.V)
					if err := translate(res.Error); err != nil {
						return err
					}
					if res.RowsAffected == 1 {
						resealed[name]++
					}
				}
			}
			return nil
		})
		if err != nil {
			return resealed, failed, fmt.Errorf("store: reseal %s: %w", name, err)
		}
	}
	return resealed, failed, nil
}
