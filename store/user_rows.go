package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"gatehouse/models"
)

// Hot reads and writes of user accounts (the SCIM lookup an IdP runs for every user it pushes,
// its creates and updates) use statements built from userTable: GORM's reflective scan of the
// account's 26 columns costs more than the query.
var userTable = newTable("user_accounts",
	col("id", func(u *models.UserAccount) *uuid.UUID { return &u.ID }),
	col("workspace_id", func(u *models.UserAccount) *uuid.UUID { return &u.WorkspaceID }),
	col("email", func(u *models.UserAccount) *string { return &u.Email }, scimWrite, profileWrite, idpRefresh),
	col("email_key", func(u *models.UserAccount) *string { return &u.EmailKey }, scimWrite, profileWrite, idpRefresh),
	col("first_name", func(u *models.UserAccount) *string { return &u.FirstName }, scimWrite, profileWrite, idpRefresh),
	col("last_name", func(u *models.UserAccount) *string { return &u.LastName }, scimWrite, profileWrite, idpRefresh),
	col("external_id", func(u *models.UserAccount) **string { return &u.ExternalID }, scimWrite, profileWrite),
	col("active", func(u *models.UserAccount) *bool { return &u.Active }, scimWrite, profileWrite),
	col("activated_at", func(u *models.UserAccount) **time.Time { return &u.ActivatedAt }, scimWrite, profileWrite),
	col("account_id", func(u *models.UserAccount) **uuid.UUID { return &u.AccountID }),
	col("role", func(u *models.UserAccount) *string { return &u.Role }),
	col("version", func(u *models.UserAccount) *int { return &u.Version }, versioned),
	col("created_at", func(u *models.UserAccount) *time.Time { return &u.CreatedAt }),
	col("updated_at", func(u *models.UserAccount) *time.Time { return &u.UpdatedAt }, versioned),
	col("user_name", func(u *models.UserAccount) *string { return &u.UserName }, scimWrite, profileWrite, idpRefresh), // with the email (ChangeEmail)
	col("user_name_key", func(u *models.UserAccount) *string { return &u.UserNameKey }, scimWrite, profileWrite, idpRefresh),
	col("email_type", func(u *models.UserAccount) *string { return &u.EmailType }, scimWrite, profileWrite, idpRefresh), // with the email (SetEmail)
	col("display_name", func(u *models.UserAccount) *string { return &u.DisplayName }, scimWrite),
	col("title", func(u *models.UserAccount) *string { return &u.Title }, scimWrite),
	col("user_type", func(u *models.UserAccount) *string { return &u.UserType }, scimWrite),
	col("employee_number", func(u *models.UserAccount) *string { return &u.EmployeeNumber }, scimWrite),
	col("department", func(u *models.UserAccount) *string { return &u.Department }, scimWrite),
	col("organization", func(u *models.UserAccount) *string { return &u.Organization }, scimWrite),
	col("cost_center", func(u *models.UserAccount) *string { return &u.CostCenter }, scimWrite),
	col("division", func(u *models.UserAccount) *string { return &u.Division }, scimWrite),
	col("manager_id", func(u *models.UserAccount) *string { return &u.ManagerID }, scimWrite),
	col("scim_data", func(u *models.UserAccount) *string { return &u.SCIMData }, scimWrite),
)

// userSelect names every column of an account, in userTable's order, qualified with the
// table, for a SELECT list.
var userSelect = userTable.qualified("user_accounts")

// scanUser reads one row of userSelect (and then extra destinations) into u.
func scanUser(rows *sql.Rows, u *models.UserAccount, extra ...any) error {
	if err := rows.Scan(userTable.dest(u, extra...)...); err != nil {
		return err
	}
	userTable.scanned(u)
	return nil
}

// userArgs are the values of userTable's columns of r, in its order.
func userArgs(r *models.UserAccount) []any { return userTable.args(r) }

// queryUsers runs SELECT userSelect FROM user_accounts <tail> and scans the accounts; with
// withGroups, each account's groups come from the same query.
func (s *Store) queryUsers(ctx context.Context, tail string, args []any, withGroups bool) ([]*models.UserAccount, map[uuid.UUID][]models.GroupRef, error) {
	rows, err := s.query(ctx, s.usersSQL(tail, withGroups), args...)
	if err != nil {
		return nil, nil, translate(err)
	}
	return scanUsers(rows, withGroups)
}

// usersSQL is queryUsers' statement.
func (s *Store) usersSQL(tail string, withGroups bool) string {
	sel := userSelect
	if withGroups {
		sel += ", " + s.groupsColumn()
	}
	return "SELECT " + sel + " FROM user_accounts " + tail
}

// scanUsers reads the rows of a userSelect (and, with withGroups, groupsColumn) query and
// closes them.
func scanUsers(rows *sql.Rows, withGroups bool) ([]*models.UserAccount, map[uuid.UUID][]models.GroupRef, error) {
	defer rows.Close()
	var groups map[uuid.UUID][]models.GroupRef
	if withGroups {
		groups = map[uuid.UUID][]models.GroupRef{}
	}
	var users []*models.UserAccount
	for rows.Next() {
		u := &models.UserAccount{}
		var gs []byte
		var extra []any
		if withGroups {
			extra = append(extra, &gs)
		}
		if err := scanUser(rows, u, extra...); err != nil {
			return nil, nil, translate(err)
		}
		if withGroups {
			gr, err := decodeGroups(u.ID, gs)
			if err != nil {
				return nil, nil, err
			}
			groups[u.ID] = gr
		}
		users = append(users, u)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, translate(err)
	}
	return users, groups, nil
}

// query runs a read (or a write returning rows) on the connection (or transaction) of ctx
// without GORM's statement building, for the hottest reads. sql uses ? placeholders and no ?
// inside string literals. Only a plain read (plainRead) leaves InTxFromFirstWrite's
// transaction unbegun.
func (s *Store) query(ctx context.Context, sql string, args ...any) (*sql.Rows, error) {
	db, err := s.handle(ctx, !plainRead(sql))
	if err != nil {
		return nil, err
	}
	if s.dialect == Postgres {
		sql = pgPlaceholders(sql)
		args = pgArgs(args)
	}
	return db.Statement.ConnPool.QueryContext(ctx, sql, args...)
}

// pgArgs returns args with uuids as 16-byte arrays, which pgx encodes directly, instead of
// through their driver.Valuer (a string the server parses back). args is not modified.
func pgArgs(args []any) []any {
	out := make([]any, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case uuid.UUID:
			out[i] = [16]byte(v)
		case *uuid.UUID:
			if v != nil {
				out[i] = [16]byte(*v)
			}
		default:
			out[i] = a
		}
	}
	return out
}

// pgPlaceholders numbers ? placeholders as PostgreSQL's $1, $2, … (outside quoted literals).
// The hot statements repeat, so results are remembered, for a bounded number of texts (filters
// make the WHERE clause vary by shape, never by value).
func pgPlaceholders(q string) string {
	if v, ok := numbered.Load(q); ok {
		return v.(string)
	}
	out := numberPlaceholders(q)
	if numberedCount.Add(1) <= maxNumbered {
		numbered.Store(q, out)
	}
	return out
}

var (
	numbered      sync.Map // statement text with ? → with $n
	numberedCount atomic.Int64
)

const maxNumbered = 1024

func numberPlaceholders(q string) string {
	var b strings.Builder
	b.Grow(len(q) + 16)
	n, quoted := 0, false
	for i := 0; i < len(q); i++ {
		switch c := q[i]; {
		case c == '\'':
			quoted = !quoted
			b.WriteByte(c)
		case c == '?' && !quoted:
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// SCIMUser reads one account of a workspace (ErrNotFound if none) and, with withGroups, its
// groups, in one query.
// Errors: ErrNotFound when no row matches.
func (s *Store) SCIMUser(ctx context.Context, ws, id uuid.UUID, withGroups bool) (*models.UserAccount, []models.GroupRef, error) {
	us, groups, err := s.queryUsers(ctx, "WHERE user_accounts.workspace_id = ? AND user_accounts.id = ?", []any{ws, id}, withGroups)
	if err != nil {
		return nil, nil, err
	}
	if len(us) == 0 {
		return nil, nil, ErrNotFound
	}
	return us[0], groups[id], nil
}

// groupsColumn is a SELECT expression that aggregates a user's groups as a JSON array of
// [id, displayName] pairs ordered by id, so that a page of users and their groups is one query.
func (s *Store) groupsColumn() string {
	if s.dialect == Postgres {
		return pgGroupsOf("user_accounts")
	}
	return `(SELECT json_group_array(json_array(x.id, x.display_name)) FROM (SELECT g.id, g.display_name
			FROM group_members gm JOIN groups g ON g.id = gm.group_id
			WHERE gm.workspace_id = user_accounts.workspace_id AND gm.user_account_id = user_accounts.id ORDER BY g.id) x)`
}

// pgGroupsOf is PostgreSQL's groupsColumn for the accounts of rel (a table or CTE name).
func pgGroupsOf(rel string) string {
	return `(SELECT COALESCE(json_agg(json_build_array(g.id, g.display_name) ORDER BY g.id), '[]')
			FROM group_members gm JOIN groups g ON g.id = gm.group_id
			WHERE gm.workspace_id = ` + rel + `.workspace_id AND gm.user_account_id = ` + rel + `.id)`
}

// decodeGroups turns groupsColumn's JSON into the GroupRefs of user.
func decodeGroups(user uuid.UUID, raw []byte) ([]models.GroupRef, error) {
	if len(raw) == 0 || string(raw) == "[]" {
		return nil, nil
	}
	var pairs [][2]string
	if err := json.Unmarshal(raw, &pairs); err != nil {
		return nil, err
	}
	out := make([]models.GroupRef, 0, len(pairs))
	for _, p := range pairs {
		id, err := uuid.Parse(p[0])
		if err != nil {
			return nil, err
		}
		out = append(out, models.GroupRef{UserAccountID: user, GroupID: id, DisplayName: p[1]})
	}
	return out, nil
}
