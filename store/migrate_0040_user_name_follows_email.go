package store

// Migration 40: the userName of an account created outside SCIM is its email again where an
// admin's email change (GraphQL updateUserAccount) or a sign-in's profile refresh left it at
// the first address, as both did before models.UserAccount.ChangeEmail moved it with the email:
// an IdP's lookup by the person's address (Okta's userName eq "<email>") found nobody, and the
// old address stayed taken. An account a SCIM request wrote (its document names a userName,
// kept in scim_data) keeps its IdP's; one whose email is another account's userName keeps its
// own, as ChangeEmail's writes do (no two accounts share a userName). The clash is looked up
// through ux_user_accounts_user_name, whose rows have a userName (a user_name_key not empty).
func init() {
	register(migration{version: 40, name: "user_name_follows_email", sql: `
UPDATE user_accounts SET user_name = email, user_name_key = email_key
WHERE email_key <> '' AND user_name_key <> email_key AND scim_data NOT LIKE '%"userName":%'
AND NOT EXISTS (SELECT 1 FROM user_accounts o WHERE o.workspace_id = user_accounts.workspace_id
	AND o.user_name_key = user_accounts.email_key AND o.user_name_key <> '' AND o.id <> user_accounts.id);
`})
}
