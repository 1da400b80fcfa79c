// Package flow gets tokens from Microsoft Entra ID or any OpenID Connect
// authority, the way MSAL Python's ConfidentialClientApplication and
// PublicClientApplication do, and hands them to [bearer.Transport] as
// [bearer.TokenSource] values.
//
// Applications are configured with [Option] values (WithAuthority,
// WithRegion, WithCapabilities…) and each call with [CallOption] values
// (Claims, Tenant, ForceRefresh…).
//
// Authorities: Entra's public and sovereign clouds, with a tenant ID or
// domain or common / organizations / consumers; Azure AD B2C; Entra
// External ID (CIAM); ADFS; and any OpenID Connect authority. The
// endpoints of Entra's known hosts, B2C, External ID and ADFS are computed
// without a network round trip; other authorities are discovered once and
// cached.
//
// Calls to the authority are retried on connection errors and on 429,
// 500, 502, 503 and 504 (at most twice, honouring Retry-After within the
// context's deadline), never on other errors. An authority's error
// response is an [*Error]; one that only a signed-in user can resolve
// matches [ErrInteractionRequired].
//
// Nothing is logged or put in an error that is a secret: no client
// secret, assertion, token, authorization code or password.
package flow
