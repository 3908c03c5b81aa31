package conformance

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"gatehouse/models"
	"gatehouse/store"
)

func testUserAccounts(e *env) {
	a, b := e.user("a"), e.user("b")
	got, err := e.s.UserAccount(e.ctx, e.ws, a.ID)
	e.ok(err)
	e.check(got.Email == a.Email, "UserAccount %+v", got)
	_, err = e.s.UserAccount(e.ctx, e.ws, store.NewID())
	e.is(err, store.ErrNotFound, "missing account")
	_, err = e.s.UserAccount(e.ctx, e.workspace().ID, a.ID)
	e.is(err, store.ErrNotFound, "account of another workspace")
	us, err := e.s.UserAccountsByIDs(e.ctx, e.ws, []uuid.UUID{a.ID, b.ID, store.NewID()})
	e.ok(err)
	e.check(len(us) == 2, "by ids: %d", len(us))
	// In a transaction on PostgreSQL, an account it found cannot be deleted before the
	// transaction ends (an account about to be bound); SQLite runs one write at a time.
	doomed := e.newUser("doomed") // in a workspace of its own: the counts below are e.ws's
	doomed.WorkspaceID = e.workspace().ID
	e.ok(e.s.Create(e.ctx, doomed))
	e.waits("DeleteUserAccount after UserAccountsByIDs", func(ctx context.Context) error {
		us, err := e.s.UserAccountsByIDs(ctx, doomed.WorkspaceID, []uuid.UUID{doomed.ID})
		if err != nil || len(us) != 1 {
			return fmt.Errorf("UserAccountsByIDs: %v %v", us, err)
		}
		return nil
	}, func() error {
		_, err := e.s.DeleteUserAccount(e.ctx, doomed.WorkspaceID, doomed.ID)
		return err
	})
	got, err = e.s.UserAccountByEmail(e.ctx, e.ws, models.Key("A@example.com"))
	e.ok(err)
	e.check(got.ID == a.ID, "by email: %v", got.ID)
	_, err = e.s.UserAccountByEmail(e.ctx, e.ws, "nobody@example.com")
	e.is(err, store.ErrNotFound, "missing email")

	many := []*models.UserAccount{e.newUser("m1"), e.newUser("m2"), e.newUser("m3")}
	e.ok(e.s.CreateUserAccounts(e.ctx, many))
	dup := []*models.UserAccount{e.newUser("m4"), e.newUser("m1")}
	dup[1].UserName, dup[1].UserNameKey = "m5", "m5"
	e.exists(e.s.CreateUserAccounts(e.ctx, dup), "email", "CreateUserAccounts duplicate")
	_, err = e.s.UserAccount(e.ctx, e.ws, dup[0].ID)
	e.is(err, store.ErrNotFound, "row of a refused CreateUserAccounts")

	list, err := e.s.UserAccounts(e.ctx, e.ws, store.UserAccountFilter{}, nil, 2)
	e.ok(err)
	e.check(len(list) == 2 && list[0].ID == a.ID && list[1].ID == b.ID, "first page %v", list)
	list, err = e.s.UserAccounts(e.ctx, e.ws, store.UserAccountFilter{}, &b.ID, 100)
	e.ok(err)
	e.check(len(list) == 3, "after b: %d", len(list))
	list, err = e.s.UserAccounts(e.ctx, e.ws, store.UserAccountFilter{EmailKey: b.EmailKey}, nil, 100)
	e.ok(err)
	e.check(len(list) == 1 && list[0].ID == b.ID, "by email filter: %v", list)
	n, err := e.s.CountUserAccounts(e.ctx, e.ws, store.UserAccountFilter{})
	e.ok(err)
	e.check(n == 5, "count %d", n)
	n, err = e.s.CountUserAccounts(e.ctx, e.ws, store.UserAccountFilter{Active: ptr(false)})
	e.ok(err)
	e.check(n == 0, "inactive count %d", n)

	// Versioned updates.
	a.FirstName = "A"
	stale, _ := savesUser(e, a, func(u *models.UserAccount) error { return e.s.UpdateUserAccount(e.ctx, u) }, "UpdateUserAccount",
		"email", func(u *models.UserAccount) { u.Email, u.EmailKey = b.Email, b.EmailKey })

	acct := e.account("acct", nil, e.now)
	e.ok(e.s.SetUserAccountAccount(e.ctx, a, &acct.ID))
	e.check(a.Version == 3 && *a.AccountID == acct.ID, "placed: %+v", a)
	e.is(e.s.SetUserAccountAccount(e.ctx, &stale, nil), store.ErrStale, "stale placement")
	e.is(e.s.SetUserAccountAccount(e.ctx, a, ptr(store.NewID())), store.ErrMissingReference, "placement in a missing account")
	e.ok(e.s.SetUserAccountAccount(e.ctx, a, nil))
}

func testBrands(e *env) {
	b, c := e.brand("Alpha"), e.brand("Beta")
	got, err := e.s.Brand(e.ctx, e.ws, b.ID)
	e.ok(err)
	e.check(got.Name == "Alpha", "brand %+v", got)
	_, err = e.s.Brand(e.ctx, e.workspace().ID, b.ID)
	e.is(err, store.ErrNotFound, "brand of another workspace")
	got, err = e.s.BrandByID(e.ctx, b.ID)
	e.ok(err)
	e.check(got.WorkspaceID == e.ws, "by id %+v", got)
	_, err = e.s.BrandByID(e.ctx, store.NewID())
	e.is(err, store.ErrNotFound, "missing brand")
	list, err := e.s.Brands(e.ctx, e.ws, nil, 10)
	e.ok(err)
	e.check(len(list) == 2, "brands %d", len(list))
	list, err = e.s.Brands(e.ctx, e.ws, &b.ID, 10)
	e.ok(err)
	e.check(len(list) == 1 && list[0].ID == c.ID, "after %v", list)

	dup := &models.Brand{ID: store.NewID(), WorkspaceID: e.ws, Name: "ALPHA", NameKey: "alpha", Slug: "other", Version: 1,
		CreatedAt: e.now, UpdatedAt: e.now}
	e.exists(e.s.Create(e.ctx, dup), "name", "duplicate brand name")

	b.Portal = "https://portal.example.com"
	savesVersioned(e, b, func(b *models.Brand) int { return b.Version }, func(b *models.Brand) error { return e.s.UpdateBrand(e.ctx, b) }, "UpdateBrand")
	taken := *b
	taken.Slug = c.Slug
	e.exists(e.s.UpdateBrand(e.ctx, &taken), "slug", "brand slug taken")
	taken = *b
	taken.Name, taken.NameKey = c.Name, c.NameKey
	e.exists(e.s.UpdateBrand(e.ctx, &taken), "name", "brand name taken")
}

func testCompanies(e *env) {
	a, b := e.company("Acme"), e.company("Bolt")
	got, err := e.s.Company(e.ctx, e.ws, a.ID)
	e.ok(err)
	e.check(got.Name == "Acme", "company %+v", got)
	_, err = e.s.Company(e.ctx, e.ws, store.NewID())
	e.is(err, store.ErrNotFound, "missing company")
	got, err = e.s.CompanyByName(e.ctx, e.ws, "Acme")
	e.ok(err)
	e.check(got.ID == a.ID, "by name %v", got.ID)
	_, err = e.s.CompanyByName(e.ctx, e.ws, "ACME")
	e.is(err, store.ErrNotFound, "by name is case-sensitive")
	cs, err := e.s.CompaniesByIDs(e.ctx, e.ws, []uuid.UUID{a.ID, store.NewID()})
	e.ok(err)
	e.check(len(cs) == 1, "by ids %d", len(cs))
	cs, err = e.s.Companies(e.ctx, e.ws, &a.ID, 10)
	e.ok(err)
	e.check(len(cs) == 1 && cs[0].ID == b.ID, "after %v", cs)
	e.exists(e.s.Create(e.ctx, &models.Company{ID: store.NewID(), WorkspaceID: e.ws, Name: "ACME", NameKey: "acme",
		CreatedAt: e.now, UpdatedAt: e.now}), "name", "duplicate company")

	a.Name, a.NameKey = "Acme Inc", "acme inc"
	e.ok(e.s.UpdateCompany(e.ctx, a))
	b.Name, b.NameKey = a.Name, a.NameKey
	e.exists(e.s.UpdateCompany(e.ctx, b), "name", "company name taken")
	gone := *a
	gone.ID = store.NewID()
	e.is(e.s.UpdateCompany(e.ctx, &gone), store.ErrNotFound, "update of a missing company")
}

func testAccounts(e *env) {
	co := e.company("Co")
	old := e.account("old", &co.ID, e.now.Add(-1000000000))
	young := e.account("young", &co.ID, e.now)
	solo := e.account("solo", nil, e.now)
	got, err := e.s.Account(e.ctx, e.ws, old.ID)
	e.ok(err)
	e.check(got.Name == "old", "account %+v", got)
	_, err = e.s.Account(e.ctx, e.ws, store.NewID())
	e.is(err, store.ErrNotFound, "missing account")
	as, err := e.s.AccountsByIDs(e.ctx, e.ws, []uuid.UUID{old.ID, solo.ID, store.NewID()})
	e.ok(err)
	e.check(len(as) == 2, "by ids %d", len(as))
	got, err = e.s.OldestAccountOf(e.ctx, e.ws, co.ID)
	e.ok(err)
	e.check(got.ID == old.ID, "oldest %v", got.Name)
	_, err = e.s.OldestAccountOf(e.ctx, e.ws, store.NewID())
	e.is(err, store.ErrNotFound, "company without accounts")
	as, err = e.s.Accounts(e.ctx, e.ws, store.AccountFilter{CompanyID: &co.ID}, nil, 10)
	e.ok(err)
	e.check(len(as) == 2, "company filter %d", len(as))
	as, err = e.s.Accounts(e.ctx, e.ws, store.AccountFilter{}, &young.ID, 10)
	e.ok(err)
	e.check(len(as) == 1 && as[0].ID == solo.ID, "after %v", as)

	solo.Name, solo.Type = "solo2", models.AccountIndividual
	e.ok(e.s.UpdateAccount(e.ctx, solo))
	got, _ = e.s.Account(e.ctx, e.ws, solo.ID)
	e.check(got.Name == "solo2" && got.Type == models.AccountIndividual, "update lost %+v", got)
	solo.CompanyID = ptr(store.NewID())
	e.is(e.s.UpdateAccount(e.ctx, solo), store.ErrMissingReference, "account in a missing company")
	gone := *old
	gone.ID = store.NewID()
	e.is(e.s.UpdateAccount(e.ctx, &gone), store.ErrNotFound, "update of a missing account")

	// AccountForUpdate: Account, and on PostgreSQL a concurrent update waits for the reader's
	// transaction (SQLite runs one write at a time).
	_, err = e.s.AccountForUpdate(e.ctx, e.ws, gone.ID)
	e.is(err, store.ErrNotFound, "AccountForUpdate of a missing account")
	_, err = e.s.AccountForUpdate(e.ctx, e.workspace().ID, old.ID)
	e.is(err, store.ErrNotFound, "AccountForUpdate of another workspace")
	renamed := *old
	renamed.Name = "old2"
	e.waits("UpdateAccount after AccountForUpdate", func(ctx context.Context) error {
		got, err := e.s.AccountForUpdate(ctx, e.ws, old.ID)
		if err != nil || got.ID != old.ID || got.Name != "old" {
			return fmt.Errorf("AccountForUpdate: %+v %v", got, err)
		}
		return nil
	}, func() error { return e.s.UpdateAccount(e.ctx, &renamed) })
}

// savesUser asserts the contract of a versioned save of the user account a, which the caller
// has changed: savesVersioned's, then ErrAlreadyExists{field} for a copy that take makes clash
// with another account, and ErrNotFound for a copy whose account does not exist. It returns
// the stale copy and the missing one.
func savesUser(e *env, a *models.UserAccount, save func(*models.UserAccount) error, what, field string, take func(*models.UserAccount)) (stale, gone models.UserAccount) {
	e.t.Helper()
	stale = savesVersioned(e, a, func(u *models.UserAccount) int { return u.Version }, save, what)
	taken := *a
	take(&taken)
	e.exists(save(&taken), field, what+": value taken")
	gone = *a
	gone.ID = store.NewID()
	e.is(save(&gone), store.ErrNotFound, what+": missing account")
	return stale, gone
}
