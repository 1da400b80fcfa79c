// Package zitadel tests package flow against a third-party OpenID
// Provider: the example OP of github.com/zitadel/oidc/v3 (its op package,
// in-memory storage and login page), served on loopback. The
// authorization code flow with PKCE, ID token verification through the
// OP's published keys, refresh token rotation and the refusal of a forged
// response are checked against an implementation that shares no code
// with this project or its own test authority, authtest.
//
// It is a module of its own so that zitadel and its dependencies stay out
// of the library's go.mod.
package zitadel
