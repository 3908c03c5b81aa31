package store

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	filter "github.com/scim2/filter-parser/v2"

	"gatehouse/models"
)

// SCIM filters (RFC 7644 §3.4.2.2) become SQL here, from a whitelist of attributes. Values are
// always bound parameters; attribute names never reach the SQL text except through the table
// below. userName, externalId and emails eq hit indexes ((workspace_id, user_name_key),
// (workspace_id, external_id), (workspace_id, email_key)).

// FilterError is a filter the store cannot translate (unknown attribute, bad value or
// operator). Its message is safe to show.
type FilterError struct{ Msg string }

func (e *FilterError) Error() string { return e.Msg }

func filterErrorf(format string, args ...any) error {
	return &FilterError{Msg: fmt.Sprintf(format, args...)}
}

type colKind int

const (
	kindKey    colKind = iota // case-insensitive text stored normalised (models.Key) in its own column
	kindText                  // case-insensitive text compared through lower()
	kindExact                 // case-exact text
	kindBool                  // boolean
	kindTime                  // timestamp
	kindID                    // uuid primary key
	kindMember                // group membership (EXISTS subquery)
)

type column struct {
	expr string // SQL column expression
	kind colKind
}

const (
	coreUserURN       = "urn:ietf:params:scim:schemas:core:2.0:user"
	enterpriseUserURN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user"
	coreGroupURN      = "urn:ietf:params:scim:schemas:core:2.0:group"
)

// userColumns maps lower-cased attribute paths ("name.givenname") to columns.
var userColumns = map[string]column{
	"id":                {"user_accounts.id", kindID},
	"username":          {"user_accounts.user_name_key", kindKey},
	"externalid":        {"user_accounts.external_id", kindExact},
	"displayname":       {"user_accounts.display_name", kindText},
	"name.givenname":    {"user_accounts.first_name", kindText},
	"name.familyname":   {"user_accounts.last_name", kindText},
	"emails":            {"user_accounts.email_key", kindKey},
	"emails.value":      {"user_accounts.email_key", kindKey},
	"emails.type":       {emailTypeSQL, kindText}, // of the primary email
	"emails.primary":    {"(user_accounts.email_key <> '')", kindBool},
	"active":            {"user_accounts.active", kindBool},
	"title":             {"user_accounts.title", kindText},
	"usertype":          {"user_accounts.user_type", kindText},
	"meta.created":      {"user_accounts.created_at", kindTime},
	"meta.lastmodified": {"user_accounts.updated_at", kindTime},
	"employeenumber":    {"user_accounts.employee_number", kindExact},
	"department":        {"user_accounts.department", kindText},
	"organization":      {"user_accounts.organization", kindText},
	"costcenter":        {"user_accounts.cost_center", kindText},
	"division":          {"user_accounts.division", kindText},
	"manager":           {"user_accounts.manager_id", kindExact},
	"manager.value":     {"user_accounts.manager_id", kindExact},
	"groups":            {"gm.group_id", kindMember},
	"groups.value":      {"gm.group_id", kindMember},
}

// emailTypeSQL is the type of the primary email as SCIM shows it (scim.userDoc): an email set
// outside SCIM (GraphQL, first sign-in) on an account whose SCIM document holds no emails is
// shown as "work", so Entra's documented lookup emails[type eq "work"].value eq "…" finds those
// people too; an email an IdP sent without a type keeps none. (The document is JSON written by
// encoding/json, so its emails key reads exactly "emails":.)
const emailTypeSQL = `(CASE WHEN user_accounts.email_type = '' AND user_accounts.email_key <> '' AND user_accounts.scim_data NOT LIKE '%"emails":%' THEN 'work' ELSE user_accounts.email_type END)`

var groupColumns = map[string]column{
	"id":                {"groups.id", kindID},
	"displayname":       {"groups.display_name_key", kindKey},
	"externalid":        {"groups.external_id", kindExact},
	"members":           {"gm.user_account_id", kindMember},
	"members.value":     {"gm.user_account_id", kindMember},
	"meta.created":      {"groups.created_at", kindTime},
	"meta.lastmodified": {"groups.updated_at", kindTime},
}

// filterSQL translates a parsed filter for the users ("user") or groups ("group") table. With
// b (a token tied to a connection), userName eq and ne also look at the identifiers bound there.
func filterSQL(e filter.Expression, resource string, b *binding) (string, []any, error) {
	t := &translator{resource: resource, bound: b}
	sql, err := t.expr(e, "", 0)
	return sql, t.args, err
}

// binding is the workspace and connection of a SCIM token tied to a connection.
type binding struct{ workspace, connection uuid.UUID }

type translator struct {
	resource string
	bound    *binding
	args     []any
}

const maxFilterDepth = 32

func (t *translator) expr(e filter.Expression, prefix string, depth int) (string, error) {
	if depth > maxFilterDepth {
		return "", filterErrorf("the filter is nested too deeply")
	}
	switch x := e.(type) {
	case *filter.LogicalExpression:
		l, err := t.expr(x.Left, prefix, depth+1)
		if err != nil {
			return "", err
		}
		r, err := t.expr(x.Right, prefix, depth+1)
		if err != nil {
			return "", err
		}
		op := "AND"
		if strings.EqualFold(string(x.Operator), "or") {
			op = "OR"
		}
		return "(" + l + " " + op + " " + r + ")", nil
	case *filter.NotExpression:
		in, err := t.expr(x.Expression, prefix, depth+1)
		if err != nil {
			return "", err
		}
		return "(NOT " + in + ")", nil
	case *filter.ValuePath:
		name, err := t.attrName(x.AttributePath, "")
		if err != nil {
			return "", err
		}
		return t.expr(x.ValueFilter, name, depth+1)
	case *filter.AttributeExpression:
		return t.attr(x, prefix)
	}
	return "", filterErrorf("unsupported filter expression")
}

// attrName returns the lower-cased attribute path without its schema URN.
func (t *translator) attrName(p filter.AttributePath, prefix string) (string, error) {
	name := strings.ToLower(p.AttributeName)
	if p.SubAttribute != nil {
		name += "." + strings.ToLower(*p.SubAttribute)
	}
	if uri := strings.ToLower(p.URI()); uri != "" {
		ok := false
		switch t.resource {
		case "user":
			ok = uri == coreUserURN || uri == enterpriseUserURN
		case "group":
			ok = uri == coreGroupURN
		}
		if !ok {
			return "", filterErrorf("unknown schema %q in filter", p.URI())
		}
	}
	if prefix != "" {
		name = prefix + "." + name
	}
	return name, nil
}

func (t *translator) bind(v any) string {
	t.args = append(t.args, v)
	return "?"
}

func (t *translator) attr(x *filter.AttributeExpression, prefix string) (string, error) {
	name, err := t.attrName(x.AttributePath, prefix)
	if err != nil {
		return "", err
	}
	cols := userColumns
	if t.resource == "group" {
		cols = groupColumns
	}
	col, ok := cols[name]
	if !ok {
		return "", filterErrorf("the attribute %q cannot be used in a filter", x.AttributePath.String())
	}
	op := strings.ToLower(string(x.Operator))
	if op == "pr" {
		switch col.kind {
		case kindExact:
			return "(" + col.expr + " IS NOT NULL AND " + col.expr + " <> '')", nil
		case kindKey, kindText:
			return "(" + col.expr + " <> '')", nil
		case kindMember:
			return t.member("", true), nil
		}
		return "(1=1)", nil
	}
	switch op {
	case "eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le":
	default:
		return "", filterErrorf("unknown operator %q", x.Operator)
	}
	switch col.kind {
	case kindBool:
		b, ok := x.CompareValue.(bool)
		if !ok || (op != "eq" && op != "ne") {
			return "", filterErrorf("%s takes eq or ne with true or false", x.AttributePath.String())
		}
		if op == "ne" {
			b = !b
		}
		return "(" + col.expr + " = " + t.bind(b) + ")", nil
	case kindTime:
		s, ok := x.CompareValue.(string)
		tm, err := time.Parse(time.RFC3339Nano, unescape(s))
		if !ok || err != nil {
			return "", filterErrorf("%s takes an RFC 3339 date-time string", x.AttributePath.String())
		}
		return t.compare(col.expr, op, tm.UTC(), false)
	case kindID, kindMember:
		s, ok := x.CompareValue.(string)
		if !ok || (op != "eq" && op != "ne") {
			return "", filterErrorf("%s takes eq or ne with a string", x.AttributePath.String())
		}
		id, err := uuid.Parse(unescape(s))
		if col.kind == kindMember {
			if err != nil {
				return boolSQL(op == "ne"), nil
			}
			return t.member(t.bind(id), op == "eq"), nil
		}
		if err != nil { // not one of our ids: matches nothing (Entra probes with random values)
			return boolSQL(op == "ne"), nil
		}
		return t.compare(col.expr, op, id, false)
	}
	s, ok := x.CompareValue.(string)
	if !ok {
		if x.CompareValue == nil {
			return "", filterErrorf("%s takes a string value", x.AttributePath.String())
		}
		s = fmt.Sprint(x.CompareValue)
	} else {
		s = unescape(s)
	}
	switch col.kind {
	case kindKey:
		k := models.Key(s)
		if name == "username" && t.bound != nil && k != "" && (op == "eq" || op == "ne") {
			return t.userNameOrBound(col.expr, op, k), nil
		}
		if op == "eq" && k != "" {
			// The unique indexes on key columns are partial (key <> ''); saying so lets both
			// planners use them with a bound parameter.
			return "(" + col.expr + " = " + t.bind(k) + " AND " + col.expr + " <> '')", nil
		}
		return t.compare(col.expr, op, k, true)
	case kindText:
		return t.compare("lower("+col.expr+")", op, strings.ToLower(s), true)
	}
	return t.compare(col.expr, op, s, true)
}

// userNameOrBound matches userName k, or the account bound with identifier k at the token's
// connection. Each side of the OR is an index lookup on its own (hence the workspace repeated
// inside, for SQLite's OR optimisation); the subquery is uncorrelated, so both planners run it
// once and look the account up by primary key. It finds at most one account, thanks to
// the unique (workspace_id, connection_id, identifier_key) index, and COALESCE turns "none" into
// the nil id, which no account has, so that NOT and ne see false rather than NULL.
func (t *translator) userNameOrBound(expr, op, k string) string {
	eq := "((user_accounts.workspace_id = " + t.bind(t.bound.workspace) + " AND " + expr + " = " + t.bind(k) + " AND " + expr + " <> '') OR user_accounts.id = COALESCE((SELECT bc.user_account_id FROM credentials bc WHERE bc.workspace_id = " +
		t.bind(t.bound.workspace) + " AND bc.connection_id = " + t.bind(t.bound.connection) + " AND bc.identifier_key = " + t.bind(k) + "), " + t.bind(uuid.Nil) + "))"
	if op == "ne" {
		return "(NOT " + eq + ")"
	}
	return eq
}

func boolSQL(b bool) string {
	if b {
		return "(1=1)"
	}
	return "(1=0)"
}

// member is an EXISTS test on group_members; ph is the bound id placeholder, or "" for pr.
func (t *translator) member(ph string, positive bool) string {
	var sub string
	if t.resource == "user" {
		sub = "SELECT 1 FROM group_members gm WHERE gm.user_account_id = user_accounts.id"
		if ph != "" {
			sub += " AND gm.group_id = " + ph
		}
	} else {
		sub = "SELECT 1 FROM group_members gm WHERE gm.group_id = groups.id"
		if ph != "" {
			sub += " AND gm.user_account_id = " + ph
		}
	}
	if positive {
		return "(EXISTS (" + sub + "))"
	}
	return "(NOT EXISTS (" + sub + "))"
}

func (t *translator) compare(expr, op string, v any, text bool) (string, error) {
	switch op {
	case "eq":
		return "(" + expr + " = " + t.bind(v) + ")", nil
	case "ne":
		if text {
			return "(" + expr + " IS NULL OR " + expr + " <> " + t.bind(v) + ")", nil
		}
		return "(" + expr + " <> " + t.bind(v) + ")", nil
	case "gt":
		return "(" + expr + " > " + t.bind(v) + ")", nil
	case "ge":
		return "(" + expr + " >= " + t.bind(v) + ")", nil
	case "lt":
		return "(" + expr + " < " + t.bind(v) + ")", nil
	case "le":
		return "(" + expr + " <= " + t.bind(v) + ")", nil
	}
	s, ok := v.(string)
	if !ok || !text {
		return "", filterErrorf("%s needs a string attribute", op)
	}
	pat := escapeLike(s)
	switch op {
	case "co":
		pat = "%" + pat + "%"
	case "sw":
		pat += "%"
	case "ew":
		pat = "%" + pat
	}
	return "(" + expr + " LIKE " + t.bind(pat) + " ESCAPE '\\')", nil
}

// unescape decodes JSON string escapes the parser leaves in place (\" \\ \u00e9).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var out string
	if err := json.Unmarshal([]byte(`"`+s+`"`), &out); err != nil {
		return s
	}
	return out
}
