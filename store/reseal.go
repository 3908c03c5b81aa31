package store

import (
	"context"
	"fmt"

	"gatehouse/models"
)

// sealedColumns are the columns whose values are sealed with the encryption key
// (secret.Box), each with its table's key column. TestSealedColumnsListEveryEncryptedColumn
// holds the list to the migrations: a new *_enc column must be added here, or a key rotation
// would leave its values to the old key.
var sealedColumns = []struct {
	table, key, column string
	// versioned: the table has an optimistic version column, which a reseal moves on. Its
	// rows are saved whole (UpdateConnection saves every column), so a writer that read a row
	// before the reseal would otherwise put the old key's value back, unnoticed until that key
	// is retired; this way it loses the race (ErrStale) and reads the row again.
	versioned bool
}{
	{"signing_keys", "id", "private_key_enc", false},
	{"saml_sp_keys", "id", "private_key_enc", false},
	{"connections", "id", "oidc_client_secret_enc", true},
	{"sign_in_flows", "id", "upstream_verifier_enc", false},
	{"saml_answers", "flow_id", "identity_enc", false},
}

// HasSealedValues reports whether any sealed column holds a value: whether the database has
// secrets that only its encryption key opens (a key made for it now would open none). A
// database not migrated to the last version is read as it is: a sealed column its schema
// lacks holds nothing (each came with its table, and none has moved).
// Errors: ErrUnavailable.
func (s *Store) HasSealedValues(ctx context.Context) (bool, error) {
	for _, c := range sealedColumns {
		if has, err := s.hasColumn(ctx, c.table, c.column); err != nil {
			return false, err
		} else if !has {
			continue
		}
		var n []int
		q := fmt.Sprintf("SELECT 1 FROM %s WHERE %s IS NOT NULL LIMIT 1", c.table, c.column)
		if err := translate(s.db(ctx).Raw(q).Scan(&n).Error); err != nil {
			return false, err
		}
		if len(n) > 0 {
			return true, nil
		}
	}
	return false, nil
}

// SealedSigningKey returns the sealed private half of the newest signing key, nil when there is
// none (a new database), reading the schema as it is: a start checks its encryption key on it
// before it migrates (signing_keys came with the first migration, and its columns have not
// moved since). Errors: ErrUnavailable.
func (s *Store) SealedSigningKey(ctx context.Context) ([]byte, error) {
	if has, err := s.hasColumn(ctx, "signing_keys", "private_key_enc"); err != nil || !has {
		return nil, err
	}
	var v [][]byte
	q := "SELECT private_key_enc FROM signing_keys ORDER BY created_at DESC LIMIT 1"
	if err := translate(s.db(ctx).Raw(q).Scan(&v).Error); err != nil {
		return nil, err
	}
	if len(v) == 0 {
		return nil, nil
	}
	return v[0], nil
}

// ResealBatch is how many rows one transaction of ResealSecrets reseals: the rows it updates
// stay locked (PostgreSQL), and SQLite's writers wait, for one batch only. sign_in_flows
// holds the flows of the last FlowLifetime, tens of thousands on a busy server: one
// transaction over all of them would hold up the sign-ins whose flows it had updated until
// the last one was done.
const ResealBatch = 200

// resealPasses bounds how often a column is read again because some of its values changed
// under the reseal.
const resealPasses = 3

// ResealSecrets passes every sealed value of the database to reseal and writes back those it
// changed, a column at a time, ResealBatch rows to a transaction. A value is written back only
// if it is still the one read. When some had changed meanwhile (a server that wrote one anew,
// a SAML SP key promotion that renamed the rows), the column is read again, so that no value a
// previous key sealed is left behind unnoticed: one written anew with the current key is left
// as it is. The counts are by column, named "table.column". A value reseal fails on is left as
// it is and counted in failed (in the column's last pass); the others go on.
// Errors: ErrUnavailable, also when a column's values kept changing for resealPasses passes.
func (s *Store) ResealSecrets(ctx context.Context, reseal func([]byte) ([]byte, bool, error)) (resealed, failed map[string]int, err error) {
	resealed, failed = map[string]int{}, map[string]int{}
	for _, c := range sealedColumns {
		name := c.table + "." + c.column
		for pass := 1; ; pass++ {
			var moved int
			failed[name], moved = 0, 0
			after := ""
			for more := true; more; {
				// Counted once the batch commits: a batch the database stops rolls back, and
				// the counts (the command's output, the audit event) say what moved.
				var batch int
				err := s.InTx(ctx, func(ctx context.Context) error {
					batch = 0
					var rows []struct {
						K string
						V []byte
					}
					q := fmt.Sprintf("SELECT %s AS k, %s AS v FROM %s WHERE %s IS NOT NULL", c.key, c.column, c.table, c.column)
					args := []any{}
					if after != "" {
						q += fmt.Sprintf(" AND %s > ?", c.key)
						args = append(args, after)
					}
					q += fmt.Sprintf(" ORDER BY %s LIMIT %d", c.key, ResealBatch)
					if err := translate(s.db(ctx).Raw(q, args...).Scan(&rows).Error); err != nil {
						return err
					}
					if more = len(rows) == ResealBatch; len(rows) > 0 {
						after = rows[len(rows)-1].K
					}
					set := c.column + " = ?"
					if c.versioned {
						set += ", version = version + 1"
					}
					u := fmt.Sprintf("UPDATE %s SET %s WHERE %s = ? AND %s = ?", c.table, set, c.key, c.column)
					for _, r := range rows {
						v, changed, err := reseal(r.V)
						switch {
						case err != nil:
							failed[name]++
						case changed:
							res := s.db(ctx).Exec(u, v, r.K, r.V)
							if err := translate(res.Error); err != nil {
								return err
							}
							if res.RowsAffected == 1 {
								batch++
							} else {
								moved++
							}
						}
					}
					return nil
				})
				if err != nil {
					return resealed, failed, fmt.Errorf("store: reseal %s: %w", name, err)
				}
				if batch > 0 {
					resealed[name] += batch
				}
			}
			if failed[name] == 0 {
				delete(failed, name)
			}
			if moved == 0 {
				break
			}
			if pass == resealPasses {
				return resealed, failed, fmt.Errorf("store: reseal %s: %w: %d values kept changing during %d passes; run it again",
					name, models.ErrUnavailable, moved, resealPasses)
			}
		}
	}
	return resealed, failed, nil
}
