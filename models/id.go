package models

import (
	"errors"

	"github.com/google/uuid"
)

// ErrIDForm is ParseID's error: the text is not an id in the one spelling ids have.
var ErrIDForm = errors.New("models: not a UUID in its 36-character hyphenated form")

// ParseID reads an id a caller gives (a GraphQL argument, a REST or SCIM path segment, a SCIM
// filter's or member's value): the 36-character hyphenated form only, hex digits in either
// case. uuid.Parse alone also reads "{…}", "urn:uuid:…" and the 32 digits without hyphens,
// so one object would answer under several spellings of its id, and a proxy or WAF rule that
// filters one object's path by its id would miss the others (the reason route.Canonical
// serves no other spelling of a path). An id in any other spelling names nothing. The caller
// decides about surrounding white space (provision/ids.go ignores it).
func ParseID(s string) (uuid.UUID, error) {
	if len(s) != 36 { // at this length uuid.Parse takes only the hyphenated form
		return uuid.Nil, ErrIDForm
	}
	id, err := uuid.Parse(s)
	if err != nil {
		return uuid.Nil, ErrIDForm
	}
	return id, nil
}

// ParseExactID reads an id exactly as Gatehouse writes it (uuid.UUID.String: hyphenated, lower
// case), the one spelling of an id in a path (REST's /api/v1/…/{id}, SCIM's /Users/{id}) and
// in a SCIM filter's id eq "…" (SCIM's id is case-exact, RFC 7643 §3.1). An upper-case id is
// another spelling of the object's path, which a proxy's case-sensitive rule on that path would
// miss. GraphQL arguments, which people type, and the SCIM attributes that refer to an id
// without being one (a member's value, a manager's: not case-exact in the schema Gatehouse
// serves) take either case (ParseID).
func ParseExactID(s string) (uuid.UUID, error) {
	id, err := ParseID(s)
	if err != nil || id.String() != s {
		return uuid.Nil, ErrIDForm
	}
	return id, nil
}
