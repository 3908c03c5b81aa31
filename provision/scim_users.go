package provision

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"

	"gatehouse/models"
	"gatehouse/scimquery"
	"gatehouse/store"
)

// SCIMUserInput is a SCIM User as the transport decoded it: the attributes Gatehouse keeps in
// columns, plus Data, the JSON object of every other attribute as sent.
type SCIMUserInput struct {
	UserName       string
	ExternalID     *string
	Active         bool
	Email          string // the primary email, "" when none
	EmailType      string // its type (work, home, …)
	GivenName      string
	FamilyName     string
	DisplayName    string
	Title          string
	UserType       string
	EmployeeNumber string
	Department     string
	Organization   string
	CostCenter     string
	Division       string
	ManagerID      string
	Data           string
}

// Limits of SCIM input.
const (
	maxSCIMText  = 1024
	maxSCIMData  = 64 << 10
	MaxSCIMCount = 1000 // largest SCIM page (ServiceProviderConfig filter.maxResults)
)

// validate trims the input and checks it; given the user as stored (a replace or a patch), it
// checks only the values the input changes. A value stored before a rule was tightened, or
// written by another surface with its own rules (GraphQL, a bulk binding), would otherwise
// fail every later update of the user, among them the IdP's PATCH of another attribute, and
// keep the user stuck at its IdP.
func (in *SCIMUserInput) validate(stored *models.UserAccount) error {
	in.UserName = strings.TrimSpace(in.UserName)
	in.Email = strings.TrimSpace(in.Email)
	if in.UserName == "" {
		return models.SCIMError(models.SCIMTypeInvalidValue, "userName is required")
	}
	changed, storedData := *in, ""
	if stored != nil {
		changed.keepOnlyChanges(stored)
		storedData = stored.SCIMData
	}
	return changed.check(storedData)
}

// keepOnlyChanges empties each value of in that stored holds already, so that check passes it.
func (in *SCIMUserInput) keepOnlyChanges(stored *models.UserAccount) {
	for _, f := range [...]struct {
		value *string
		was   string
	}{
		{&in.UserName, stored.UserName}, {&in.Email, stored.Email}, {&in.EmailType, stored.EmailType},
		{&in.GivenName, stored.FirstName}, {&in.FamilyName, stored.LastName}, {&in.DisplayName, stored.DisplayName},
		{&in.Title, stored.Title}, {&in.UserType, stored.UserType}, {&in.EmployeeNumber, stored.EmployeeNumber},
		{&in.Department, stored.Department}, {&in.Organization, stored.Organization}, {&in.CostCenter, stored.CostCenter},
		{&in.Division, stored.Division}, {&in.ManagerID, stored.ManagerID}, {&in.Data, stored.SCIMData},
	} {
		if *f.value == f.was {
			*f.value = ""
		}
	}
	if in.ExternalID != nil && stored.ExternalID != nil && *in.ExternalID == *stored.ExternalID {
		in.ExternalID = nil
	}
}

// check applies the input rules to every value of in; an empty one passes, and so do the
// strings of the attributes document that storedData (the stored one, or "") holds.
func (in *SCIMUserInput) check(storedData string) error {
	if errs := models.CheckTexts("userName", in.UserName, "externalId", in.ExternalID, "emails", in.Email,
		"emails.type", in.EmailType, "name.givenName", in.GivenName, "name.familyName", in.FamilyName,
		"displayName", in.DisplayName, "title", in.Title, "userType", in.UserType, "employeeNumber", in.EmployeeNumber,
		"department", in.Department, "organization", in.Organization, "costCenter", in.CostCenter,
		"division", in.Division, "manager", in.ManagerID); len(errs) > 0 {
		return errs[0]
	}
	if e := checkJSONText("attributes", in.Data, storedData); e != nil {
		return e
	}
	if len(in.UserName) > models.MaxIdentifierLength {
		return models.SCIMError(models.SCIMTypeInvalidValue, "userName must be at most 255 bytes")
	}
	if in.Email != "" && !models.ValidEmail(in.Email) {
		return models.SCIMError(models.SCIMTypeInvalidValue, "emails must hold a valid email address (the primary one is not)")
	}
	if err := checkSCIMExternalIDLength(in.ExternalID); err != nil {
		return err
	}
	// Names follow the one name rule (models.NameTooLong); other attributes have maxSCIMText.
	for _, n := range [...]struct{ attr, v string }{{"name.givenName", in.GivenName},
		{"name.familyName", in.FamilyName}, {"displayName", in.DisplayName}} {
		if models.NameTooLong(n.v) {
			return models.SCIMError(models.SCIMTypeInvalidValue, "%s %s", n.attr, models.MsgNameTooLong)
		}
	}
	for _, f := range []string{in.Title, in.UserType, in.EmployeeNumber,
		in.Department, in.Organization, in.CostCenter, in.Division, in.ManagerID} {
		if len(f) > maxSCIMText {
			return models.SCIMError(models.SCIMTypeInvalidValue, "attribute values must be at most 1,024 bytes (UTF-8)")
		}
	}
	if len(in.Data) > maxSCIMData {
		return models.SCIMError(models.SCIMTypeInvalidValue, "the user resource is larger than 64 KiB")
	}
	return nil
}

func (in *SCIMUserInput) applyTo(u *models.UserAccount, now time.Time) {
	u.UserName, u.UserNameKey = in.UserName, models.Key(in.UserName)
	u.ExternalID = in.ExternalID
	u.SetActive(in.Active, now)
	u.SetSCIMEmail(in.Email, models.Clip(in.EmailType, 64))
	u.FirstName, u.LastName, u.DisplayName = in.GivenName, in.FamilyName, in.DisplayName
	u.Title, u.UserType, u.EmployeeNumber, u.Department = in.Title, in.UserType, in.EmployeeNumber, in.Department
	u.Organization, u.CostCenter, u.Division, u.ManagerID = in.Organization, in.CostCenter, in.Division, in.ManagerID
	u.SCIMData = in.Data
	if u.SCIMData == "" {
		u.SCIMData = "{}"
	}
}

// userWriteError maps a failed user write to the SCIM-typed error the IdP sees. Two accounts
// of a workspace never share a userName, nor a (non-empty) email: a SCIM user whose email
// belongs to another account is refused with uniqueness, naming the email.
func userWriteError(err error, in *SCIMUserInput) error {
	switch {
	case store.IsAlreadyExists(err, "user_name"):
		return &models.SCIMTypedError{Err: models.FieldError(models.ETAKEN, "userName", in.UserName,
			"a user with this userName already exists"), Type: models.SCIMTypeUniqueness}
	case store.IsAlreadyExists(err, "email"):
		return &models.SCIMTypedError{Err: models.FieldError(models.ETAKEN, "emails", in.Email,
			"another user already has this email address"), Type: models.SCIMTypeUniqueness}
	case store.IsAlreadyExists(err, "identity"):
		return &models.SCIMTypedError{Err: models.FieldError(models.ETAKEN, "userName", in.UserName,
			"this userName is already bound to another user at the token's connection"), Type: models.SCIMTypeUniqueness}
	case errors.Is(err, store.ErrStale):
		return models.Errorf(models.ECONFLICT, "the user was changed concurrently; retry")
	case errors.Is(err, store.ErrNotFound):
		return models.Errorf(models.ENOTFOUND, "user not found")
	}
	var te *models.SCIMTypedError
	if errors.As(err, &te) {
		return err
	}
	var me *models.Error
	if errors.As(err, &me) && me.Code == models.ETAKEN {
		if me.Field == "identifier" { // the identity rule: userName is someone else's identifier at the token's connection
			me = models.FieldError(models.ETAKEN, "userName", in.UserName, "this userName is already bound to another user at the token's connection")
		}
		return &models.SCIMTypedError{Err: me, Type: models.SCIMTypeUniqueness}
	}
	return internal("scim user", err)
}

// scimUserMutation is a SCIM user write of in: its failures read as userWriteError says.
func scimUserMutation(in *SCIMUserInput) mutation {
	return mutation{fail: func(err error) error { return userWriteError(err, in) }}
}

// bindSCIMIdentity binds the user to the token's connection with userName as identifier,
// through the one identity rule.
func (s *Service) bindSCIMIdentity(ctx context.Context, c *SCIMCaller, u *models.UserAccount) error {
	if c.Token.ConnectionID == nil {
		return nil
	}
	conn, err := s.store.Connection(ctx, u.WorkspaceID, *c.Token.ConnectionID)
	if errors.Is(err, store.ErrNotFound) {
		// Deleting the connection revoked the token, in the same transaction; this request
		// passed the token check just before (or on a replica whose token cache has not
		// expired yet), and the IdP's next one gets 401. 409 without a scimType: RFC 7644
		// §3.12 has none for it (uniqueness is a duplicate; the others are 400s).
		return models.Errorf(models.EINVALIDSTATE, "the SCIM token's connection was deleted, which revoked the token")
	}
	if err != nil {
		return err
	}
	return s.bindIdentity(ctx, u, conn, u.UserName, "")
}

// rebindSCIMIdentity follows a rename (the user's old userName key was oldKey) with the binding
// at the token's connection, when that binding is the one SCIM makes: the old userName, or none.
// A binding to another identifier was made by a sign-in (an OIDC subject, a SAML persistent
// NameID) or by an admin, and is how the IdP signs the person in whatever their userName:
// replacing it would lock them out, so it stays.
func (s *Service) rebindSCIMIdentity(ctx context.Context, c *SCIMCaller, u *models.UserAccount, oldKey string) error {
	creds, err := s.store.CredentialsForAccounts(ctx, u.WorkspaceID, []uuid.UUID{u.ID})
	if err != nil {
		return err
	}
	for _, cr := range creds[u.ID] {
		if cr.ConnectionID == *c.Token.ConnectionID && cr.IdentifierKey != oldKey {
			return nil
		}
	}
	return s.bindSCIMIdentity(ctx, c, u)
}

// CreateSCIMUser creates a user account from SCIM and records the activity in the same
// transaction.
func (s *Service) CreateSCIMUser(ctx context.Context, in SCIMUserInput) (*models.UserAccount, error) {
	c, err := s.authorizeSCIM(ctx, models.SCIMUsersWrite)
	if err != nil {
		return nil, err
	}
	if err := in.validate(nil); err != nil {
		return nil, err
	}
	now := s.now()
	// Active until the input says otherwise: a new account was never reactivated.
	u := &models.UserAccount{ID: store.NewID(), WorkspaceID: c.Token.WorkspaceID, Active: true, Version: 1, CreatedAt: now, UpdatedAt: now}
	in.applyTo(u, now)
	act := s.scimActivity(c, models.SCIMOpCreate, models.SCIMResourceUser, u.ID.String(), nil,
		map[string]any{"userName": u.UserName})
	if c.Token.ConnectionID == nil {
		// The account and its activity row, atomically (one statement on PostgreSQL).
		if err := s.store.CreateAll(ctx, u, act); err != nil {
			return nil, userWriteError(err, &in)
		}
		return u, nil
	}
	err = s.scimWrite(ctx, scimUserMutation(&in), func(ctx context.Context) (*models.SCIMActivity, error) {
		if err := s.store.Create(ctx, u); err != nil {
			return nil, err
		}
		if err := s.bindSCIMIdentity(ctx, c, u); err != nil {
			return nil, err
		}
		// The connection's IdP created the account: its sign-ins refresh the profile.
		if err := s.store.MarkProfileOwner(ctx, u.WorkspaceID, u.ID, *c.Token.ConnectionID); err != nil {
			return nil, err
		}
		return act, nil
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// scimUserTarget authorizes the SCIM caller for scope and parses the id of the user it names
// (not a uuid: not found).
func (s *Service) scimUserTarget(ctx context.Context, scope, rawID string) (*SCIMCaller, uuid.UUID, error) {
	c, err := s.authorizeSCIM(ctx, scope)
	if err != nil {
		return nil, uuid.Nil, err
	}
	id, err := models.ParseExactID(rawID)
	if err != nil {
		return nil, uuid.Nil, notFoundUser(rawID)
	}
	return c, id, nil
}

func notFoundUser(rawID string) error {
	return models.FieldError(models.ENOTFOUND, "id", rawID, "no user with this id")
}

// SCIMUser returns a user account of the token's workspace and, with withGroups, its groups.
func (s *Service) SCIMUser(ctx context.Context, rawID string, withGroups bool) (*models.UserAccount, []models.GroupRef, error) {
	c, id, err := s.scimUserTarget(ctx, models.SCIMUsersRead, rawID)
	if err != nil {
		return nil, nil, err
	}
	u, groups, err := s.store.SCIMUser(ctx, c.Token.WorkspaceID, id, withGroups)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, notFoundUser(rawID)
	}
	return u, groups, internal("scim user", err)
}

// ReplaceSCIMUser computes a user's new attributes from its current state (PUT ignores it;
// PATCH applies operations to it) and saves them atomically with the activity row.
// ifMatch, when pinned, requires the stored version to be one it names (If-Match); otherwise a
// concurrent change is retried. With withGroups it also returns the user's groups.
func (s *Service) ReplaceSCIMUser(ctx context.Context, rawID string, ifMatch models.IfMatch, op string, withGroups bool,
	change func(u *models.UserAccount) (SCIMUserInput, map[string]any, error)) (*models.UserAccount, []models.GroupRef, error) {
	c, id, err := s.scimUserTarget(ctx, models.SCIMUsersWrite, rawID)
	if err != nil {
		return nil, nil, err
	}
	var u *models.UserAccount
	var groups []models.GroupRef
	var in SCIMUserInput
	// save reads the user, computes the change and saves it with its activity row. Unlocked,
	// the save is one atomic statement on PostgreSQL that fails as stale if the user changed
	// since the read; locked (inside a transaction, the last attempt, and for a new userName:
	// to bind it at the token's connection, or to move the versions of the groups that show
	// it), it cannot be stale.
	save := func(ctx context.Context, locked bool) error {
		var cur *models.UserAccount
		var err error
		if locked {
			// With its groups: a new userName changes them too (see below).
			cur, err = s.store.UserAccountWithGroupsForUpdate(ctx, c.Token.WorkspaceID, id)
			if err == nil && withGroups {
				var m map[uuid.UUID][]models.GroupRef
				m, err = s.store.GroupsOfUsers(ctx, c.Token.WorkspaceID, []uuid.UUID{id})
				groups = m[id]
			}
		} else {
			cur, groups, err = s.store.SCIMUser(ctx, c.Token.WorkspaceID, id, withGroups)
		}
		if errors.Is(err, store.ErrNotFound) {
			return notFoundUser(rawID)
		}
		if err != nil {
			return err
		}
		if !ifMatch.Allows(cur.Version) {
			return errPreconditionFailed
		}
		var details map[string]any
		if in, details, err = change(cur); err != nil {
			return err
		}
		if err := in.validate(cur); err != nil {
			return err
		}
		oldKey, oldName := cur.UserNameKey, cur.UserName
		changed, _, _ := edit(cur, func(cur *models.UserAccount) error { in.applyTo(cur, s.now()); return nil })
		rebind := oldKey != cur.UserNameKey && c.Token.ConnectionID != nil
		// The groups' members show the userName (display): a new one changes the groups, whose
		// versions must move, under their locks, which only the locking path takes.
		renamed := oldName != cur.UserName
		if (rebind || renamed) && !locked {
			return errNeedsLock
		}
		if details == nil {
			details = map[string]any{}
		}
		details["userName"] = cur.UserName
		act := s.scimActivity(c, op, models.SCIMResourceUser, cur.ID.String(), nil, details)
		if !changed {
			// The user as it was (an IdP's PUT or PATCH of the values it has): no write, so its
			// version, the ETag the IdP's If-Match names, stays (edit); the activity row still
			// records the request.
			u = cur
			return s.store.InTx(ctx, func(ctx context.Context) error { return s.store.Create(ctx, act) })
		}
		if err := s.store.SaveSCIMUserWith(ctx, cur, act); err != nil {
			return err
		}
		if renamed {
			if err := s.store.TouchGroupsOf(ctx, c.Token.WorkspaceID, id); err != nil {
				return err
			}
		}
		u = cur
		if rebind {
			return s.rebindSCIMIdentity(ctx, c, cur, oldKey)
		}
		return nil
	}
	// This loop is transact's retry on stale with two differences that keep it its own: its
	// first runs are unlocked and outside any transaction (one atomic statement on PostgreSQL;
	// transact's BEGIN and COMMIT would add two round trips to the SCIM hot path), and its last
	// run takes the row lock instead. A stale save with an If-Match version is 412 at once,
	// as a pinned mutation would be. The locked run is run again (up to three in all) when a
	// group that gained the user while it waited for the user's lock is busy (store.ErrBusy),
	// and any run PostgreSQL aborted as a deadlock's victim (store.Aborted), as transact does.
	for attempt := 0; ; attempt++ {
		if attempt < 2 {
			err = save(ctx, false)
			if errors.Is(err, errNeedsLock) {
				attempt = 1 // straight to the locking path
				continue
			}
			if errors.Is(err, store.ErrStale) {
				if ifMatch.Pinned() { // the version the client named is gone: If-Match fails
					err = errPreconditionFailed
					break
				}
				continue
			}
		} else {
			err = s.store.InTx(ctx, func(ctx context.Context) error { return save(ctx, true) })
			if errors.Is(err, store.ErrBusy) && attempt < 4 {
				continue // it locks first the group that gained the user meanwhile
			}
		}
		if store.Aborted(err) && attempt < 4 {
			continue // PostgreSQL rolled this run back as a deadlock's victim: nothing of it holds
		}
		break
	}
	if errors.Is(err, errPreconditionFailed) {
		return nil, nil, err
	}
	if err != nil {
		return nil, nil, userWriteError(err, &in)
	}
	return u, groups, nil
}

// SCIMUserPatch is a SCIM PATCH of a user as the transport compiled its operations.
type SCIMUserPatch struct {
	// ActiveOnly: the operations' only effect on any user is to set active, to Active (the
	// deactivation and reactivation Okta and Entra send).
	ActiveOnly, Active bool
	// Ops are the operations.
	Ops SCIMUserOps
	// Details go into the activity row.
	Details map[string]any
}

// SCIMUserOps are the operations of a SCIM PATCH of a user.
type SCIMUserOps interface {
	// Apply returns a user's attributes after the operations, from its current state.
	Apply(cur *models.UserAccount) (SCIMUserInput, error)
}

// PatchSCIMUser applies a PATCH to a user, as ReplaceSCIMUser does. A patch that only sets
// active takes the fast path: no read of the user comes first, the change is one atomic
// write, and a concurrent change of other attributes cannot make it stale; its outcome,
// answer and activity row are the general path's.
func (s *Service) PatchSCIMUser(ctx context.Context, rawID string, ifMatch models.IfMatch, withGroups bool, p SCIMUserPatch) (*models.UserAccount, []models.GroupRef, error) {
	// The fast path compares one version in its statement; an If-Match of several takes the
	// general path, which compares them after its read.
	if version, one := ifMatch.Single(); p.ActiveOnly && one {
		u, groups, err := s.setSCIMUserActive(ctx, rawID, version, p.Active, withGroups, p.Details)
		if u != nil || err != nil {
			return u, groups, err
		}
		// A user without a userName was left alone: the general path refuses it.
	}
	return s.ReplaceSCIMUser(ctx, rawID, ifMatch, models.SCIMOpUpdate, withGroups,
		func(cur *models.UserAccount) (SCIMUserInput, map[string]any, error) {
			in, err := p.Ops.Apply(cur)
			return in, p.Details, err
		})
}

// setSCIMUserActive is PatchSCIMUser's fast path: one write that sets active, of version
// ifVersion when it is not 0 (IfMatch.Single). It returns a nil user and no error when it
// wrote nothing because the user has no userName.
func (s *Service) setSCIMUserActive(ctx context.Context, rawID string, ifVersion int, active, withGroups bool,
	details map[string]any) (*models.UserAccount, []models.GroupRef, error) {
	c, id, err := s.scimUserTarget(ctx, models.SCIMUsersWrite, rawID)
	if err != nil {
		return nil, nil, err
	}
	act := s.scimActivity(c, models.SCIMOpUpdate, models.SCIMResourceUser, id.String(), nil, details)
	u, groups, err := s.store.SetSCIMUserActive(ctx, c.Token.WorkspaceID, id, active, ifVersion, act, withGroups)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, nil, notFoundUser(rawID)
	case errors.Is(err, store.ErrStale):
		return nil, nil, errPreconditionFailed
	case err != nil:
		return nil, nil, internal("scim user active", err)
	}
	return u, groups, nil
}

// checkSCIMExternalIDLength refuses an externalId (a user's or a group's: the same attribute,
// each searched through an index on (workspace_id, external_id)) over 255 bytes. On PostgreSQL
// a longer one that does not compress would break the index's row limit, a server error.
func checkSCIMExternalIDLength(v *string) error {
	if v != nil && len(*v) > models.MaxIdentifierLength {
		return models.SCIMError(models.SCIMTypeInvalidValue, "externalId must be at most 255 bytes")
	}
	return nil
}

// errNeedsLock sends a change to the locking path.
var errNeedsLock = errors.New("scim: the change needs the locking path")

// errPreconditionFailed is an If-Match that names an older version (HTTP 412).
var errPreconditionFailed = &models.SCIMTypedError{Err: models.Errorf(models.ECONFLICT,
	"the resource was changed since the version given in If-Match"), Type: "preconditionFailed"}

// IsPreconditionFailed reports whether err is a failed If-Match.
func IsPreconditionFailed(err error) bool { return errors.Is(err, errPreconditionFailed) }

// DeleteSCIMUser deletes a user account, its credentials and its group memberships.
func (s *Service) DeleteSCIMUser(ctx context.Context, rawID string, ifMatch models.IfMatch) error {
	c, id, err := s.scimUserTarget(ctx, models.SCIMUsersWrite, rawID)
	if err != nil {
		return err
	}
	// A group that gained the user while the deletion waited for it, and that another write
	// holds, sends the deletion round again: it then locks that group first (store.ErrBusy).
	m := mutation{op: "delete scim user", pinned: ifMatch.Pinned(),
		again: func(err error) bool { return errors.Is(err, store.ErrBusy) }}
	return s.scimWrite(ctx, m, func(ctx context.Context) (*models.SCIMActivity, error) {
		u, err := s.store.UserAccountWithGroupsForUpdate(ctx, c.Token.WorkspaceID, id)
		if errors.Is(err, store.ErrNotFound) {
			return nil, notFoundUser(rawID)
		}
		if err != nil {
			return nil, err
		}
		if !ifMatch.Allows(u.Version) {
			return nil, errPreconditionFailed
		}
		if _, err := s.store.DeleteUserAccount(ctx, c.Token.WorkspaceID, id); err != nil {
			return nil, err
		}
		return s.scimActivity(c, models.SCIMOpDelete, models.SCIMResourceUser, rawID, nil,
			map[string]any{"userName": u.UserName}), nil
	})
}

// SCIMListInput is a SCIM list request: the filter the transport parsed (nil: none), 1-based
// startIndex and count, and the URL of the SCIM endpoint, which the references ($ref) a filter
// may compare start with. A filter on an attribute that cannot be filtered fails the list
// with an invalidFilter error.
type SCIMListInput struct {
	Filter scimquery.Expr
	// FilterError is why scim/ refused the request's filter. The list answers it once the
	// caller's scope is checked, so that a token without the scope hears 403 whatever filter
	// it sends.
	FilterError error
	StartIndex  int
	Count       int
	Base        string
}

func (s *Service) scimList(in SCIMListInput) store.SCIMList {
	start, count := models.ClampPage(in.StartIndex, in.Count, 0, MaxSCIMCount)
	return store.SCIMList{Filter: in.Filter, Offset: start - 1, Count: count, Base: in.Base}
}

// SCIMUsers lists the token workspace's users matching a SCIM filter, and the total; with
// withGroups, also the listed users' groups.
func (s *Service) SCIMUsers(ctx context.Context, in SCIMListInput, withGroups bool) ([]*models.UserAccount, map[uuid.UUID][]models.GroupRef, int, error) {
	c, err := s.authorizeSCIM(ctx, models.SCIMUsersRead)
	if err != nil {
		return nil, nil, 0, err
	}
	if in.FilterError != nil {
		return nil, nil, 0, in.FilterError
	}
	l := s.scimList(in)
	// A tied token provisions userName as the identifier at its connection, so its userName
	// filters also find people bound there ahead of time (GraphQL updateUserAccountCredentials):
	// that is how the IdP links them instead of creating a duplicate.
	l.BoundAt = c.Token.ConnectionID
	us, groups, total, err := s.store.SCIMUsers(ctx, c.Token.WorkspaceID, l, withGroups)
	if err != nil {
		return nil, nil, 0, internal("scim users", err)
	}
	return us, groups, int(total), nil
}

// checkJSONText applies the input text rule to every string of a JSON document kept as text
// (the SCIM attributes without a column). Printable ASCII without escapes cannot break the
// rule, so only documents with escapes or other bytes are decoded. The keys and strings of
// stored, the document as stored ("" for a new one), pass as they are: an update is checked
// for what it changes (SCIMUserInput.validate).
func checkJSONText(field, doc, stored string) *models.Error {
	plain := true
	for i := 0; i < len(doc) && plain; i++ {
		b := doc[i]
		plain = b >= 0x20 && b < 0x7f && b != '\\'
	}
	if plain {
		return nil
	}
	var v any
	if err := json.Unmarshal([]byte(doc), &v); err != nil {
		return nil // not the caller's JSON: the transport encoded it; saving reports any problem
	}
	var known map[string]bool
	var was any
	if stored != "" && json.Unmarshal([]byte(stored), &was) == nil {
		known = map[string]bool{}
		models.JSONStrings(was, known)
	}
	return models.CheckValueBeyond(field, v, known)
}
