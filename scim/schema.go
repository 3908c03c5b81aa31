package scim

import "strings"

// Schema URNs.
const (
	URNUser          = "urn:ietf:params:scim:schemas:core:2.0:User"
	URNEnterprise    = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	URNGroup         = "urn:ietf:params:scim:schemas:core:2.0:Group"
	URNListResponse  = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	URNError         = "urn:ietf:params:scim:api:messages:2.0:Error"
	URNPatchOp       = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	URNSPConfig      = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
	URNResourceType  = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
	URNSchema        = "urn:ietf:params:scim:schemas:core:2.0:Schema"
	mediaType        = "application/scim+json"
	maxBodyBytes     = 2 << 20
	defaultPageCount = 100
)

// attr describes one attribute of a schema (RFC 7643 §7), enough to canonicalise names,
// coerce values and publish /Schemas.
type attr struct {
	Name       string
	Type       string // string, boolean, complex, reference, dateTime
	Multi      bool
	Required   bool
	CaseExact  bool
	Mutability string // readWrite (default), readOnly, writeOnly, immutable
	Returned   string // default (default), always, never
	Uniqueness string // none (default), server
	Sub        []*attr
}

func (a *attr) find(name string) *attr {
	for _, s := range a.Sub {
		if strings.EqualFold(s.Name, name) {
			return s
		}
	}
	return nil
}

func str(name string) *attr     { return &attr{Name: name, Type: "string"} }
func boolean(name string) *attr { return &attr{Name: name, Type: "boolean"} }
func ref(name string) *attr     { return &attr{Name: name, Type: "reference"} }

func multi(name string, subs ...*attr) *attr {
	return &attr{Name: name, Type: "complex", Multi: true, Sub: subs}
}

func multiValue() *attr {
	return multi("", str("value"), str("display"), str("type"), boolean("primary"))
}

func withName(a *attr, name string) *attr { a.Name = name; return a }

// userSchema is the core User schema (RFC 7643 §4.1) as Gatehouse supports it.
var userSchema = &attr{Name: "User", Type: "complex", Sub: []*attr{
	{Name: "userName", Type: "string", Required: true, Uniqueness: "server"},
	{Name: "name", Type: "complex", Sub: []*attr{str("formatted"), str("familyName"), str("givenName"),
		str("middleName"), str("honorificPrefix"), str("honorificSuffix")}},
	str("displayName"), str("nickName"), ref("profileUrl"), str("title"), str("userType"),
	str("preferredLanguage"), str("locale"), str("timezone"), boolean("active"),
	{Name: "password", Type: "string", Mutability: "writeOnly", Returned: "never"},
	withName(multiValue(), "emails"), withName(multiValue(), "phoneNumbers"), withName(multiValue(), "ims"),
	withName(multiValue(), "photos"),
	multi("addresses", str("formatted"), str("streetAddress"), str("locality"), str("region"),
		str("postalCode"), str("country"), str("type"), boolean("primary")),
	{Name: "groups", Type: "complex", Multi: true, Mutability: "readOnly",
		Sub: []*attr{str("value"), ref("$ref"), str("display"), str("type")}},
	withName(multiValue(), "entitlements"), withName(multiValue(), "roles"),
	withName(multiValue(), "x509Certificates"),
	{Name: "externalId", Type: "string", CaseExact: true},
}}

// enterpriseSchema is the enterprise User extension (RFC 7643 §4.3).
var enterpriseSchema = &attr{Name: "EnterpriseUser", Type: "complex", Sub: []*attr{
	str("employeeNumber"), str("costCenter"), str("organization"), str("division"), str("department"),
	{Name: "manager", Type: "complex", Sub: []*attr{str("value"), ref("$ref"), {Name: "displayName", Type: "string", Mutability: "readOnly"}}},
}}

// groupSchema is the core Group schema (RFC 7643 §4.2).
var groupSchema = &attr{Name: "Group", Type: "complex", Sub: []*attr{
	{Name: "displayName", Type: "string", Required: true, Uniqueness: "server"},
	{Name: "members", Type: "complex", Multi: true,
		Sub: []*attr{{Name: "value", Type: "string", Mutability: "immutable"}, ref("$ref"), str("display"), str("type")}},
	{Name: "externalId", Type: "string", CaseExact: true},
}}

// schemaDoc renders a schema for GET /Schemas.
func schemaDoc(id, name, desc string, s *attr, base string) map[string]any {
	return map[string]any{
		"schemas": []string{URNSchema}, "id": id, "name": name, "description": desc,
		"attributes": attrDocs(s.Sub),
		"meta":       map[string]any{"resourceType": "Schema", "location": base + "/Schemas/" + id},
	}
}

func attrDocs(as []*attr) []map[string]any {
	out := make([]map[string]any, 0, len(as))
	for _, a := range as {
		d := map[string]any{"name": a.Name, "type": a.Type, "multiValued": a.Multi, "description": "",
			"required": a.Required, "caseExact": a.CaseExact, "mutability": or(a.Mutability, "readWrite"),
			"returned": or(a.Returned, "default"), "uniqueness": or(a.Uniqueness, "none")}
		if a.Type == "complex" {
			d["subAttributes"] = attrDocs(a.Sub)
		}
		if a.Type == "reference" {
			d["referenceTypes"] = []string{"external"}
		}
		out = append(out, d)
	}
	return out
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func schemaDocs(base string) []map[string]any {
	return []map[string]any{
		schemaDoc(URNUser, "User", "User Account", userSchema, base),
		schemaDoc(URNEnterprise, "EnterpriseUser", "Enterprise User", enterpriseSchema, base),
		schemaDoc(URNGroup, "Group", "Group", groupSchema, base),
	}
}

func resourceTypeDocs(base string) []map[string]any {
	return []map[string]any{
		{"schemas": []string{URNResourceType}, "id": "User", "name": "User", "endpoint": "/Users",
			"description": "User Account", "schema": URNUser,
			"schemaExtensions": []map[string]any{{"schema": URNEnterprise, "required": false}},
			"meta":             map[string]any{"resourceType": "ResourceType", "location": base + "/ResourceTypes/User"}},
		{"schemas": []string{URNResourceType}, "id": "Group", "name": "Group", "endpoint": "/Groups",
			"description": "Group", "schema": URNGroup, "schemaExtensions": []map[string]any{},
			"meta": map[string]any{"resourceType": "ResourceType", "location": base + "/ResourceTypes/Group"}},
	}
}

func serviceProviderConfig(base, docURL string) map[string]any {
	return map[string]any{
		"schemas":          []string{URNSPConfig},
		"documentationUri": docURL,
		"patch":            map[string]any{"supported": true},
		"bulk":             map[string]any{"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
		"filter":           map[string]any{"supported": true, "maxResults": 1000},
		"changePassword":   map[string]any{"supported": false},
		"sort":             map[string]any{"supported": false},
		"etag":             map[string]any{"supported": true},
		"authenticationSchemes": []map[string]any{{"type": "oauthbearertoken", "name": "OAuth Bearer Token",
			"description": "A Gatehouse SCIM token (scim_…) as bearer token", "primary": true}},
		"meta": map[string]any{"resourceType": "ServiceProviderConfig", "location": base + "/ServiceProviderConfig"},
	}
}
