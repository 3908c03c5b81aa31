package store

// Migration 27: the algorithm an application's id_tokens are signed with
// (models.Application.IDTokenSignedResponseAlg); every existing application keeps ES256.
func init() {
	register(migration{version: 27, name: "id_token_signed_response_alg", sql: `
ALTER TABLE applications ADD COLUMN id_token_signed_response_alg text NOT NULL DEFAULT 'ES256';
`})
}
