package store

// Migration 15: user_accounts.email_type holds the effective type of the primary email, the
// one SCIM shows and filters on, written with the email (models.UserAccount.SetEmail) instead
// of being derived at read time. The backfill is exactly the rule the filter and the SCIM
// document applied until now: an email set outside SCIM on an account whose SCIM document
// holds no emails is type "work"; an email an IdP sent keeps the type it sent (none if none).
func init() {
	register(migration{version: 15, name: "email_type", sql: `
UPDATE user_accounts SET email_type = 'work'
	WHERE email_type = '' AND email_key <> '' AND scim_data NOT LIKE '%"emails":%';
`})
}
