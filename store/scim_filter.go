package store

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"gatehouse/models"
	"gatehouse/scimquery"
)

// SCIM filters (RFC 7644 §3.4.2.2), parsed by the scim transport into a scimquery.Expr, become
// SQL here, from a whitelist of attributes. Values are
// always bound parameters; attribute names never reach the SQL text except through the table
// below. userName, externalId and emails eq hit indexes ((workspace_id, user_name_key),
// (workspace_id, external_id), (workspace_id, email_key)). Attributes without a column of their
// own are read from the stored SCIM document (scim_data, JSON text) with each dialect's JSON
// functions; no index serves them, so they narrow a workspace's scan rather than replace it.

// filterErrorf reports a filter the store cannot translate (unknown attribute, bad value or
// operator) as the invalidFilter error the IdP sees; its message is safe to show.
func filterErrorf(format string, args ...any) error {
	return models.SCIMError(models.SCIMTypeInvalidFilter, format, args...)
}

type colKind int

const (
	kindKey      colKind = iota // case-insensitive text stored normalised (models.Key) in its own column
	kindText                    // case-insensitive text compared lower-cased (lowerSQL)
	kindExact                   // case-exact text
	kindBool                    // boolean
	kindTime                    // timestamp
	kindID                      // uuid primary key
	kindMember                  // group membership (EXISTS subquery)
	kindList                    // a sub-attribute of a multi-valued attribute kept in the stored document
	kindGroup                   // a sub-attribute of groups other than value (EXISTS over the memberships)
	kindRef                     // a reference ($ref): the SCIM base URL, then a fixed part and an id
	kindJSONBool                // a boolean of the stored document as the text 'true' or 'false'
)

type column struct {
	expr string // SQL expression (both dialects)
	pg   string // PostgreSQL's expression, when it differs from SQLite's (JSON)
	kind colKind
	list *jsonList // kindList: the attribute
	sub  string    // kindList: the lower-cased sub-attribute ("": the attribute itself)
	ref  string    // kindRef: what comes between the base URL and the id ("/Users/")
	raw  string    // kindJSONBool: the value without its default (NULL when absent), for pr
}

func (c column) sql(dialect string) string {
	if dialect == Postgres && c.pg != "" {
		return c.pg
	}
	return c.expr
}

const (
	coreUserURN       = "urn:ietf:params:scim:schemas:core:2.0:user"
	enterpriseUserURN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user"
	coreGroupURN      = "urn:ietf:params:scim:schemas:core:2.0:group"
)

// userColumns maps lower-cased attribute paths ("name.givenname") to columns.
var userColumns = map[string]column{
	"id":                {expr: "user_accounts.id", kind: kindID},
	"username":          {expr: "user_accounts.user_name_key", kind: kindKey},
	"externalid":        {expr: "user_accounts.external_id", kind: kindExact},
	"displayname":       {expr: "user_accounts.display_name", kind: kindText},
	"name.givenname":    {expr: "user_accounts.first_name", kind: kindText},
	"name.familyname":   {expr: "user_accounts.last_name", kind: kindText},
	"emails":            {expr: "user_accounts.email_key", kind: kindKey},
	"emails.value":      {expr: "user_accounts.email_key", kind: kindKey},
	"emails.type":       {expr: "user_accounts.email_type", kind: kindText}, // of the primary email (models.UserAccount.SetEmail)
	"emails.primary":    {expr: "(user_accounts.email_key <> '')", kind: kindBool},
	"active":            {expr: "user_accounts.active", kind: kindBool},
	"title":             {expr: "user_accounts.title", kind: kindText},
	"usertype":          {expr: "user_accounts.user_type", kind: kindText},
	"meta.created":      {expr: "user_accounts.created_at", kind: kindTime},
	"meta.lastmodified": {expr: "user_accounts.updated_at", kind: kindTime},
	"employeenumber":    {expr: "user_accounts.employee_number", kind: kindText},
	"department":        {expr: "user_accounts.department", kind: kindText},
	"organization":      {expr: "user_accounts.organization", kind: kindText},
	"costcenter":        {expr: "user_accounts.cost_center", kind: kindText},
	"division":          {expr: "user_accounts.division", kind: kindText},
	"manager":           {expr: "user_accounts.manager_id", kind: kindText},
	"manager.value":     {expr: "user_accounts.manager_id", kind: kindText},
	"groups":            {expr: "gm.group_id", kind: kindMember},
	"groups.value":      {expr: "gm.group_id", kind: kindMember},
	"groups.display":    {expr: "g.display_name", kind: kindGroup},
	"groups.type":       {expr: "'direct'", kind: kindGroup}, // every membership is direct
	"groups.$ref":       {expr: "g.id", pg: "g.id::text", kind: kindRef, ref: "/Groups/"},
	"manager.$ref":      {expr: "user_accounts.manager_id", kind: kindRef, ref: "/Users/"},

	// Attributes kept only in the stored document (scim_data, a JSON object).
	"nickname":             jsonColumn("nickName"),
	"profileurl":           jsonColumn("profileUrl"),
	"preferredlanguage":    jsonColumn("preferredLanguage"),
	"locale":               jsonColumn("locale"),
	"timezone":             jsonColumn("timezone"),
	"name.formatted":       jsonColumn("name", "formatted"),
	"name.middlename":      jsonColumn("name", "middleName"),
	"name.honorificprefix": jsonColumn("name", "honorificPrefix"),
	"name.honorificsuffix": jsonColumn("name", "honorificSuffix"),
	"manager.displayname":  jsonColumn(enterpriseKey, "manager", "displayName"),
	"emails.display":       {kind: kindList, list: &jsonList{key: "emails", subs: multiValueSubs}, sub: "display"},
}

// enterpriseKey is the stored document's key of the enterprise extension (scim.URNEnterprise).
const enterpriseKey = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

func init() {
	for _, l := range userLists {
		userColumns[strings.ToLower(l.key)] = column{kind: kindList, list: l} // the attribute itself
		for sub := range l.subs {
			userColumns[strings.ToLower(l.key)+"."+sub] = column{kind: kindList, list: l, sub: sub}
		}
	}
}

// jsonColumn is a single-valued string kept in the stored document at path (keys as stored):
// ” when absent, compared case-insensitively as the schema says of every such attribute.
func jsonColumn(path ...string) column {
	var lite, pg strings.Builder
	lite.WriteString("'$")
	pg.WriteString("user_accounts.scim_data::jsonb")
	for i, k := range path {
		lite.WriteString(`."` + k + `"`)
		if i == len(path)-1 {
			pg.WriteString(" ->> '" + k + "'")
		} else {
			pg.WriteString(" -> '" + k + "'")
		}
	}
	lite.WriteString("'")
	return column{expr: "COALESCE(json_extract(user_accounts.scim_data, " + lite.String() + "), '')",
		pg: "COALESCE(" + pg.String() + ", '')", kind: kindText}
}

// jsonList is a multi-valued complex attribute kept only in the stored document: an array of
// objects. A filter on it matches a user if one element matches.
type jsonList struct {
	key  string            // its key in the document
	subs map[string]string // lower-cased sub-attribute → its key; "primary" is the boolean
}

// multiValueSubs are the sub-attributes of the schema's plain multi-valued attributes.
var multiValueSubs = map[string]string{"value": "value", "display": "display", "type": "type", "primary": "primary"}

// userLists are the multi-valued attributes of the core User schema kept only in the stored
// document. emails (columns) and groups (memberships) are not among them.
var userLists = []*jsonList{
	{key: "phoneNumbers", subs: multiValueSubs},
	{key: "ims", subs: multiValueSubs},
	{key: "photos", subs: multiValueSubs},
	{key: "entitlements", subs: multiValueSubs},
	{key: "roles", subs: multiValueSubs},
	{key: "x509Certificates", subs: multiValueSubs},
	{key: "addresses", subs: map[string]string{"formatted": "formatted", "streetaddress": "streetAddress",
		"locality": "locality", "region": "region", "postalcode": "postalCode", "country": "country",
		"type": "type", "primary": "primary"}},
}

// each opens an EXISTS over the elements of l (an alias e whose value is the element); the
// condition and "))" follow.
func (l *jsonList) each(dialect string) string {
	if dialect == Postgres {
		arr := "user_accounts.scim_data::jsonb -> '" + l.key + "'"
		return "EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN jsonb_typeof(" + arr + ") = 'array' THEN " + arr +
			" END) AS e(value) WHERE ("
	}
	return `EXISTS (SELECT 1 FROM json_each(user_accounts.scim_data, '$."` + l.key + `"') e WHERE e.type = 'object' AND (`
}

// elem is the expression of sub-attribute sub of the element e: its text (” when absent), or
// for primary 'true' or 'false' (absent is false).
func (l *jsonList) elem(sub, dialect string) column {
	k := l.subs[sub]
	if sub == "primary" {
		raw := `json_type(e.value, '$."` + k + `"')`
		if dialect == Postgres {
			raw = "(e.value -> '" + k + "')::text"
		}
		return column{expr: "COALESCE(" + raw + ", 'false')", raw: raw, kind: kindJSONBool}
	}
	if dialect == Postgres {
		return column{expr: "COALESCE(e.value ->> '" + k + "', '')", kind: kindText}
	}
	return column{expr: `COALESCE(json_extract(e.value, '$."` + k + `"'), '')`, kind: kindText}
}

var groupColumns = map[string]column{
	"id":                {expr: "groups.id", kind: kindID},
	"displayname":       {expr: "groups.display_name_key", kind: kindKey},
	"externalid":        {expr: "groups.external_id", kind: kindExact},
	"members":           {expr: "gm.user_account_id", kind: kindMember},
	"members.value":     {expr: "gm.user_account_id", kind: kindMember},
	"meta.created":      {expr: "groups.created_at", kind: kindTime},
	"meta.lastmodified": {expr: "groups.updated_at", kind: kindTime},
}

// filterSQL translates a parsed filter for the users ("user") or groups ("group") table of
// dialect, whose text lower-cases with collation (Store.lowerCollation; "" for the database's
// own). base is the URL of the SCIM endpoint, which references ($ref) start with. With b (a
// token tied to a connection), userName eq and ne also look at the identifiers bound there.
func filterSQL(e scimquery.Expr, resource, dialect, collation, base string, b *binding) (string, []any, error) {
	t := &translator{resource: resource, dialect: dialect, collation: collation, base: base, bound: b}
	sql, err := t.expr(e, "", 0)
	return sql, t.args, err
}

// binding is the workspace and connection of a SCIM token tied to a connection.
type binding struct{ workspace, connection uuid.UUID }

type translator struct {
	resource  string
	dialect   string
	collation string
	base      string
	bound     *binding
	elem      *jsonList // inside a value path over a stored list: its elements' sub-attributes
	args      []any
}

const maxFilterDepth = 32

func (t *translator) expr(e scimquery.Expr, prefix string, depth int) (string, error) {
	if depth > maxFilterDepth {
		return "", filterErrorf("the filter is nested too deeply")
	}
	switch x := e.(type) {
	case *scimquery.Logical:
		l, err := t.expr(x.Left, prefix, depth+1)
		if err != nil {
			return "", err
		}
		r, err := t.expr(x.Right, prefix, depth+1)
		if err != nil {
			return "", err
		}
		op := "AND"
		if x.Or {
			op = "OR"
		}
		return "(" + l + " " + op + " " + r + ")", nil
	case *scimquery.Not:
		in, err := t.expr(x.X, prefix, depth+1)
		if err != nil {
			return "", err
		}
		return "(NOT " + in + ")", nil
	case *scimquery.ValuePath:
		name, err := t.attrName(x.Attr, "")
		if err != nil {
			return "", err
		}
		if t.elem != nil {
			return "", filterErrorf("value paths cannot be nested")
		}
		if c, ok := userColumns[name]; ok && t.resource == "user" && c.kind == kindList && c.sub == "" {
			// A stored list: one element must match the whole value filter.
			open := c.list.each(t.dialect)
			t.elem = c.list
			in, err := t.expr(x.Filter, "", depth+1)
			t.elem = nil
			return open + in + "))", err
		}
		return t.expr(x.Filter, name, depth+1)
	case *scimquery.Compare:
		return t.attr(x, prefix)
	}
	return "", filterErrorf("unsupported filter expression")
}

// attrName returns the lower-cased attribute path without its schema URN.
func (t *translator) attrName(p scimquery.Path, prefix string) (string, error) {
	name := strings.ToLower(p.Name)
	if p.Sub != "" {
		name += "." + strings.ToLower(p.Sub)
	}
	if uri := strings.ToLower(p.URN); uri != "" {
		ok := false
		switch t.resource {
		case "user":
			ok = uri == coreUserURN || uri == enterpriseUserURN
		case "group":
			ok = uri == coreGroupURN
		}
		if !ok {
			return "", filterErrorf("unknown schema %q in filter", p.URN)
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

func (t *translator) attr(x *scimquery.Compare, prefix string) (string, error) {
	name, err := t.attrName(x.Attr, prefix)
	if err != nil {
		return "", err
	}
	op := string(x.Op)
	var col column
	ok := false
	switch {
	case t.elem != nil:
		if _, ok = t.elem.subs[name]; ok {
			col = t.elem.elem(name, t.dialect)
		}
	case t.resource == "group":
		col, ok = groupColumns[name]
	default:
		col, ok = userColumns[name]
	}
	if !ok {
		if op == "pr" && t.elem == nil {
			if sql, found := t.anyPresent(name); found {
				return sql, nil
			}
		}
		return "", filterErrorf("the attribute %q cannot be used in a filter", x.Attr.String())
	}
	if col.kind == kindMember && t.resource == "user" && op != "eq" && op != "ne" && op != "pr" {
		// groups.value compared as text: one membership's group id matches.
		col = column{expr: "gm.group_id", pg: "gm.group_id::text", kind: kindGroup}
	}
	switch col.kind {
	case kindList: // one element of the stored list matches
		sub := col.sub
		if sub == "" { // the attribute itself: present with an element, compared by its value
			if op == "pr" {
				return col.list.each(t.dialect) + "1=1))", nil
			}
			if _, ok := col.list.subs["value"]; !ok {
				return "", filterErrorf("%s takes pr, or a filter on its sub-attributes", x.Attr.String())
			}
			sub = "value"
		}
		open := col.list.each(t.dialect)
		in, err := t.cond(x, name, op, col.list.elem(sub, t.dialect))
		if err != nil {
			return "", err
		}
		return open + in + "))", nil
	case kindGroup, kindRef:
		if col.ref == "/Users/" {
			return t.managerRef(x, name, op, col)
		}
		if col.kind == kindRef && op == "pr" { // every membership has a reference
			return t.member("", true), nil
		}
		in, err := t.cond(x, name, op, col)
		if err != nil {
			return "", err
		}
		return "(EXISTS (SELECT 1 FROM group_members gm JOIN groups g ON g.id = gm.group_id" +
			" WHERE gm.user_account_id = user_accounts.id AND " + in + "))", nil
	}
	return t.cond(x, name, op, col)
}

// anyPresent is pr of a complex attribute without a column of its own (name): true when one of
// its sub-attributes is present.
func (t *translator) anyPresent(name string) (string, bool) {
	cols := userColumns
	if t.resource == "group" {
		cols = groupColumns
	}
	var subs []string
	for k := range cols {
		if strings.HasPrefix(k, name+".") {
			subs = append(subs, k)
		}
	}
	if len(subs) == 0 {
		return "", false
	}
	sort.Strings(subs) // the same text each time: statements are cached by text
	var parts []string
	for _, k := range subs {
		sql, err := t.attr(&scimquery.Compare{Attr: scimquery.Path{Name: k}, Op: scimquery.Pr}, "")
		if err != nil {
			return "", false
		}
		parts = append(parts, sql)
	}
	return "(" + strings.Join(parts, " OR ") + ")", true
}

// managerRef is manager.$ref: the base URL, "/Users/" and the manager's id, when that id is a
// UUID (scim.userDoc shows the reference only then).
func (t *translator) managerRef(x *scimquery.Compare, name, op string, col column) (string, error) {
	id := col.sql(t.dialect)
	isUUID := "(length(" + id + ") = 36 AND " + id + " GLOB '" + uuidGlob + "')"
	if t.dialect == Postgres {
		isUUID = "(" + id + " ~ '" + uuidRegexp + "')"
	}
	if op == "pr" {
		return isUUID, nil
	}
	return t.cond(x, name, op, column{expr: "(CASE WHEN " + isUUID + " THEN " + t.bind(t.base) + " || '/Users/' || " + id + " ELSE '' END)", kind: kindRef})
}

// The canonical text of a UUID, for SQLite's GLOB and PostgreSQL's regular expressions.
var (
	uuidGlob   = strings.NewReplacer("x", "[0-9a-fA-F]").Replace("xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx")
	uuidRegexp = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)

// cond compiles the comparison x (of the attribute name) on col.
func (t *translator) cond(x *scimquery.Compare, name, op string, col column) (string, error) {
	if col.kind == kindRef && col.ref != "" { // groups.$ref: the base URL and the group's id
		col = column{expr: "(" + t.bind(t.base) + " || '" + col.ref + "' || " + col.sql(t.dialect) + ")", kind: kindRef}
	}
	expr := col.sql(t.dialect)
	if op == "pr" {
		switch col.kind {
		case kindExact:
			return "(" + expr + " IS NOT NULL AND " + expr + " <> '')", nil
		case kindKey, kindText, kindGroup:
			return "(" + expr + " <> '')", nil
		case kindMember:
			return t.member("", true), nil
		case kindJSONBool:
			return "(" + col.raw + " IS NOT NULL)", nil
		}
		return "(1=1)", nil
	}
	switch op {
	case "eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le":
	default:
		return "", filterErrorf("unknown operator %q", x.Op)
	}
	switch col.kind {
	case kindBool, kindJSONBool:
		// Text is read as PATCH reads it (models.ParseSCIMBool): Entra writes booleans as
		// "True" and "False", in filters (roles[primary eq "True"]) as in values.
		b, ok := x.Value.(bool)
		if s, isText := x.Value.(string); isText {
			b, ok = models.ParseSCIMBool(s)
		}
		if op != "eq" && op != "ne" {
			return "", filterErrorf("%s is a boolean: it takes eq, ne or pr, not %s", x.Attr.String(), op)
		}
		if !ok {
			return "", filterErrorf("%s takes true or false (or the text \"true\" or \"false\", in any case), not %s",
				x.Attr.String(), literalText(x.Value))
		}
		if op == "ne" {
			b = !b
		}
		if col.kind == kindJSONBool {
			return "(" + expr + " = " + t.bind(strconv.FormatBool(b)) + ")", nil
		}
		return "(" + expr + " = " + t.bind(b) + ")", nil
	case kindTime:
		s, ok := x.Value.(string)
		tm, err := time.Parse(time.RFC3339Nano, s)
		if !ok || err != nil {
			return "", filterErrorf("%s takes an RFC 3339 date-time string", x.Attr.String())
		}
		return t.compare(expr, op, tm.UTC(), false)
	case kindID, kindMember:
		s, ok := x.Value.(string)
		if !ok || (op != "eq" && op != "ne") {
			return "", filterErrorf("%s takes eq or ne with a string", x.Attr.String())
		}
		// id is case-exact (RFC 7643 §3.1); a member's value (groups.value, members.value)
		// is not, as the schema Gatehouse serves says.
		id, err := models.ParseExactID(s)
		if col.kind == kindMember {
			id, err = models.ParseID(s)
			if err != nil {
				return boolSQL(op == "ne"), nil
			}
			return t.member(t.bind(id), op == "eq"), nil
		}
		if err != nil { // not one of our ids: matches nothing (Entra probes with random values)
			return boolSQL(op == "ne"), nil
		}
		return t.compare(expr, op, id, false)
	}
	s, ok := x.Value.(string)
	if !ok {
		if x.Value == nil {
			return "", filterErrorf("%s takes a string value", x.Attr.String())
		}
		s = fmt.Sprint(x.Value)
	}
	switch col.kind {
	case kindKey:
		k := models.Key(s)
		if name == "username" && t.bound != nil && k != "" && (op == "eq" || op == "ne") {
			return t.userNameOrBound(expr, op, k), nil
		}
		if op == "eq" && k != "" {
			// The unique indexes on key columns are partial (key <> ''); saying so lets both
			// planners use them with a bound parameter.
			return "(" + expr + " = " + t.bind(k) + " AND " + expr + " <> '')", nil
		}
		return t.compare(expr, op, k, true)
	case kindText, kindGroup:
		return t.compare(lowerSQL(t.dialect, t.collation, expr), op, strings.ToLower(s), true)
	case kindRef: // never NULL, and its text holds a parameter: it must appear once
		return t.compare(lowerSQL(t.dialect, t.collation, expr), op, strings.ToLower(s), false)
	case kindExact:
		if t.dialect == SQLite && s != "" {
			if cond, ok := t.caseExactSubstring(expr, op, s); ok {
				return cond, nil
			}
		}
	}
	return t.compare(expr, op, s, true)
}

// caseExactSubstring is co, sw or ew of case-exact text on SQLite, whose LIKE ignores ASCII
// case ("ABC" LIKE '%abc%'), as PostgreSQL's LIKE does not: instr and substr compare every
// character as it is. ok is false for the other operators (compare's). s is not empty.
func (t *translator) caseExactSubstring(expr, op, s string) (cond string, ok bool) {
	switch op {
	case "co":
		return "(instr(" + expr + ", " + t.bind(s) + ") > 0)", true
	case "sw":
		return "(substr(" + expr + ", 1, " + strconv.Itoa(utf8.RuneCountInString(s)) + ") = " + t.bind(s) + ")", true
	case "ew":
		n := strconv.Itoa(utf8.RuneCountInString(s))
		return "(length(" + expr + ") >= " + n + " AND substr(" + expr + ", -" + n + ") = " + t.bind(s) + ")", true
	}
	return "", false
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

// literalText is a filter's comparison value as the filter wrote it, for a message: a string
// quoted and clipped, any other value as its literal.
func literalText(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return strconv.Quote(models.Clip(x, 32))
	}
	return fmt.Sprint(v)
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
	if !ok {
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
