package resolvers

import (
	"gatehouse/graph/model"
	"gatehouse/models"
	"gatehouse/provision"
)

func userPayload(u *models.UserAccount, err error) (*model.UserAccountPayload, error) {
	errs, err := payloadErrors(err)
	if err != nil {
		return nil, err
	}
	return &model.UserAccountPayload{UserAccount: u, Errors: errs}, nil
}

func connectionPayload(c *models.Connection, err error) (*model.ConnectionPayload, error) {
	errs, err := payloadErrors(err)
	if err != nil {
		return nil, err
	}
	return &model.ConnectionPayload{Connection: c, Errors: errs}, nil
}

func credentialInput(in model.UpdateUserAccountCredentialsInput) provision.CredentialInput {
	return provision.CredentialInput{AccountUUID: in.AccountUUID, AuthModule: in.AuthModule,
		Identifier: in.Identifier, Secret: optional(in.Secret)}
}

func oidcInput(in *model.OIDCConfigInput) *provision.OIDCConfigInput {
	if in == nil {
		return nil
	}
	return &provision.OIDCConfigInput{IssuerURL: in.IssuerURL, ClientID: in.ClientID,
		ClientSecret: in.ClientSecret, DiscoveryURL: in.DiscoveryURL, Scopes: in.Scopes, IdentifierClaim: in.IdentifierClaim,
		OwnCallback: in.OwnCallback, RequireVerifiedEmail: in.RequireVerifiedEmail, ClientAuthMethod: (*string)(in.ClientAuthMethod)}
}

func samlInput(in *model.SAMLConfigInput) *provision.SAMLConfigInput {
	if in == nil {
		return nil
	}
	return &provision.SAMLConfigInput{EntityID: in.EntityID, SSOURL: in.SSOURL, SSOBinding: (*string)(in.SSOBinding), Certificate: in.Certificate,
		SignRequests: in.SignRequests, AttributeMapping: in.AttributeMapping, MetadataURL: in.MetadataURL, OwnEntityID: in.OwnEntityID,
		RefreshCertificatesFromMetadata: in.RefreshCertificatesFromMetadata, MetadataXML: in.MetadataXML,
		AcceptSHA1Signatures: in.AcceptSha1Signatures}
}
