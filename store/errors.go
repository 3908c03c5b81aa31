package store

import (
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"

	"gatehouse/models"
)

// The store's error contract. Every method documents which of these it returns; any other error
// is a failure of the database itself (wrapping models.ErrUnavailable when it did not answer,
// or could not write for want of disk).
// Driver errors are translated here, so no caller ever sees an index or constraint name.

// ErrNotFound is returned when a single row is asked for and none matches.
var ErrNotFound = errors.New("store: not found")

// ErrMissingReference is returned when a write refers to a row that no longer exists (a
// foreign key violation), e.g. an account deleted while it was being bound.
var ErrMissingReference = errors.New("store: referenced row does not exist")

// ErrStale is returned when an optimistic update finds the row's version changed.
var ErrStale = errors.New("store: stale version")

// ErrBusy is returned when a write would have to wait for a row that a concurrent
// transaction holds while itself holding a row that transaction may be waiting for (see the
// lock order at GroupsOfUserForUpdate): it does not wait, and the transaction should run again
// from the start. Should that keep happening, it is transient, as models.ErrUnavailable is.
var ErrBusy = fmt.Errorf("store: a row to change is held by a concurrent write: %w", models.ErrUnavailable)

// ErrAlreadyExists is a uniqueness violation: another row already holds the value of Field.
// Field is a domain name (see uniqueFields), never an index name; match it with
// IsAlreadyExists or errors.As.
type ErrAlreadyExists struct{ Field string }

func (e *ErrAlreadyExists) Error() string { return "store: already exists: " + e.Field }

// IsAlreadyExists reports whether err is an ErrAlreadyExists on field.
func IsAlreadyExists(err error, field string) bool {
	var e *ErrAlreadyExists
	return errors.As(err, &e) && e.Field == field
}

// uniqueFields names, for each unique index, the field an ErrAlreadyExists reports. Field names
// are unique per table, not across tables: a caller knows which rows it wrote.
var uniqueFields = map[string]string{
	"ux_integration_clients_client_id":       "client_id",
	"ux_user_accounts_email":                 "email",
	"ux_user_accounts_user_name":             "user_name",
	"ux_connections_slug":                    "slug",
	"ux_connections_name":                    "name",
	"ux_credentials_identity":                "identity", // (connection, identifier) bound elsewhere
	"ux_credentials_account":                 "account",  // the account has an identity at the connection
	"ux_domains_connection_name":             "name",
	"ux_domains_verified_name":               "verified_name", // verified for another connection
	"ux_domains_primary":                     "primary",
	"saml_sp_keys_pkey":                      "id",
	"ux_brands_name":                         "name",
	"ux_brands_slug":                         "slug",
	"ux_companies_name":                      "name",
	"ux_idp_configurations_brand_connection": "brand_connection",
	"ux_scim_tokens_hash":                    "token",
	"ux_groups_display_name":                 "display_name",
	"ux_group_members_pk":                    "member",
	"ux_applications_client_id":              "client_id",
	"ux_sign_in_flows_upstream_state":        "upstream_state",
	"ux_grants_code":                         "code",
	"ux_test_sign_ins_token":                 "token",
}

// sqliteUniqueColumns maps SQLite's "UNIQUE constraint failed: t.a, t.b" column lists to our
// index names, since SQLite does not name the index in the message.
var sqliteUniqueColumns = map[string]string{}

func registerUnique(index, columns string) { sqliteUniqueColumns[columns] = index }

// alreadyExists is the ErrAlreadyExists for a violation of index. An index without a declared
// field (a primary key) reports "id", or, failing that, the index itself.
func alreadyExists(index string) error {
	if f, ok := uniqueFields[index]; ok {
		return &ErrAlreadyExists{Field: f}
	}
	if strings.HasSuffix(index, "_pkey") || strings.HasSuffix(index, ".id") {
		return &ErrAlreadyExists{Field: "id"}
	}
	return &ErrAlreadyExists{Field: index}
}

// Aborted reports whether err ended its transaction as PostgreSQL's deadlock victim (40P01)
// or as a serialization failure (40001). PostgreSQL rolled the whole transaction back, so
// nothing of it holds, and running it again from the start is the remedy its manual gives
// ("Deadlocks", "Serialization Failure Handling"). Lock order (groups.go) keeps deadlocks
// rare, but row locks also come from foreign keys and from following a row's update chain,
// which no order written here governs.
func Aborted(err error) bool {
	var pg *pgconn.PgError
	return errors.As(err, &pg) && abortedCode(pg.Code)
}

// abortedCode reports whether a PostgreSQL error code is a deadlock (40P01) or a serialization
// failure (40001): the codes of Aborted, which transient counts too.
func abortedCode(code string) bool { return code == "40P01" || code == "40001" }

// translate turns driver errors into store errors; other errors pass through wrapped.
func translate(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return ErrNotFound
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) && pg.Code == "23505" {
		return alreadyExists(pg.ConstraintName)
	}
	if errors.As(err, &pg) && pg.Code == "23503" {
		return ErrMissingReference
	}
	msg := err.Error()
	if strings.Contains(msg, "FOREIGN KEY constraint failed") {
		return ErrMissingReference
	}
	if i := strings.Index(msg, "UNIQUE constraint failed: "); i >= 0 {
		cols := msg[i+len("UNIQUE constraint failed: "):]
		if j := strings.IndexAny(cols, " ("); j >= 0 && !strings.Contains(cols[:j], ",") {
			// single column, message may carry a trailing code: keep the first token
			cols = cols[:j]
		}
		cols = strings.TrimSpace(strings.Split(cols, " (")[0])
		if idx, ok := sqliteUniqueColumns[cols]; ok {
			return alreadyExists(idx)
		}
		return alreadyExists(cols)
	}
	return fmt.Errorf("store: %w", unavailable(err))
}
