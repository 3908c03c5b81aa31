package provision

import (
	"strings"

	"github.com/google/uuid"

	"gatehouse/models"
)

// The one rule for an id a caller gives (a GraphQL argument or input field, a REST path
// segment, body field or query parameter), by what the id does:
//
//   - It names the object an operation reads, changes or refers to (userAccount(uuid),
//     updateBrand's id, createApplication's brandId, GET /api/v1/sso/connections/{id}):
//     lookupID. A malformed id names nothing, like a well-formed unknown one and one of
//     another workspace: the query field is null, the mutation's payload error NOT_FOUND
//     labelled with the field, REST answers 404. The three cannot be told apart, so nothing
//     says whether an id exists in another workspace.
//   - It narrows a list (accounts(companyId), applications(brandId), signInEvents(connectionId,
//     brandId)) or is a list's cursor (auditEvents(before)): filterID. A malformed id is the
//     caller's mistake and says so: INVALID naming the argument (GraphQL: a top-level error with
//     extensions.code INVALID; REST: 400 validation_error). A well-formed unknown id, or one of
//     another workspace, matches nothing: the list is empty, as for any filter without a match.
//
// An id is a UUID in its 36-character hyphenated form, hex digits in either case
// (models.ParseID, also the SCIM service's rule for its paths, filters and member values);
// "{…}", "urn:uuid:…" and the 32 digits without hyphens are malformed, so one object has one
// id in paths and arguments. Surrounding white space is ignored in both, as for the other
// identifiers callers type. The platform admin's workspaceId (workspaceFor) is the one
// exception: it chooses the workspace an operation runs in, not an object of it, and its
// operator is told a typo as such.

// lookupID parses an id that names an object: a malformed one is notFound(field, raw, what).
func lookupID(field, raw, what string) (uuid.UUID, *models.Error) {
	id, err := models.ParseID(strings.TrimSpace(raw))
	if err != nil {
		return uuid.Nil, notFound(field, raw, what)
	}
	return id, nil
}

// notFound is the error for an id that names nothing in the caller's workspace; a malformed
// id names nothing either.
func notFound(field, raw, what string) *models.Error {
	return models.FieldError(models.ENOTFOUND, field, raw, "no "+what+" with this id in this workspace")
}

// filterID parses an id that narrows a list: a malformed one is INVALID against field.
func filterID(field, raw string) (uuid.UUID, *models.Error) {
	id, err := models.ParseID(strings.TrimSpace(raw))
	if err != nil {
		return uuid.Nil, models.FieldError(models.EINVALID, field, raw, "is not a valid UUID")
	}
	return id, nil
}
