package apptest

// The requests of seeds/001 (Administrate auto-provisioning), verbatim: a request quoted
// there must work exactly as written, its FIXME placeholders replaced by real ids.
const (
	SeedCreateIdPConfiguration = `mutation create {
brands {
createIdentityProviderConfiguration(input: {
brandId: "FIXME_BRAND_ID"
identityProviderId: "FIXME_IDP_ID"
autoProvisionLearners: true
defaultAccountId: "FIXME_ACCOUNT_ID"
}) {
brand { id }
errors { label message value }
}
}
}`
	SeedUpdateIdPConfiguration = `mutation update {
brands {
updateIdentityProviderConfiguration(input: {
brandId: "FIXME_BRAND_ID"
identityProviderId: "FIXME_IDP_ID"
autoProvisionLearners: true
defaultAccountId: "FIXME_ACCOUNT_ID"
}) {
brand { id }
errors { label message value }
}
}
}`
)
