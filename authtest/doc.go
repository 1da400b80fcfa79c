// Package authtest is a local Microsoft Entra ID compatible authority and
// protected resource for tests, examples and first runs: httptest for
// identity. Nobody can reach Entra from a unit test or a CI machine; point
// the code under test at a [Server] instead.
//
//	srv := authtest.NewServer(t)
//	srv.AddClient(authtest.Client{ID: "my-app", Secret: "s3cret"})
//	srv.AddUser(authtest.User{Username: "alice@contoso.com", Password: "pw"})
//	// Use srv.Authority("contoso.com") as the authority, srv.Client() as
//	// the HTTP client, srv.URL+"/v1.0/me" as Microsoft Graph.
//
// The package imports nothing of the module it belongs to: it is an
// independent implementation of the server side, so it catches client bugs
// instead of sharing them.
//
// # Endpoints
//
// Entra's shapes, for any tenant (a GUID, a domain, common, organizations
// or consumers; see [Server.TenantID]):
//
//	/{tenant}/v2.0/.well-known/openid-configuration   discovery ({tenantid} in the issuer for common and organizations)
//	/{tenant}/discovery/v2.0/keys                     JWKS: current and previous key, no alg (see [Server.RotateKeys])
//	/{tenant}/oauth2/v2.0/authorize                   authorization codes (PKCE, state, nonce, prompt, login_hint,
//	                                                  claims, acr_values, max_age, response_mode query|fragment|form_post)
//	/{tenant}/oauth2/v2.0/token                       every grant below
//	/{tenant}/oauth2/v2.0/devicecode                  device authorization (RFC 8628)
//	/{tenant}/oauth2/v2.0/logout                      ends the session of [Server.SignIn]
//	/{tenant}/adminconsent, /{tenant}/v2.0/adminconsent
//	/common/discovery/instance                        instance discovery
//	/common/userrealm/{username}                      user realm discovery
//	/devicelogin                                      the page where a user enters a device code
//
// and the shapes of AD FS ([Server.ADFSAuthority]: /adfs/..., access tokens
// issued by its access_token_issuer http://{host}/adfs/services/trust, as
// AD FS issues them, ID tokens by its OpenID issuer), Azure AD B2C
// ([Server.B2CAuthority]: /{tenant}/{policy}/... and /tfp/{tenant}/{policy}/...)
// and a plain OpenID Connect authority ([Server.OIDCIssuer]: /oidc/..., no
// Entra paths, RFC 6749 error bodies, secrets with HTTP Basic only, client
// assertions in RS256 or ES256/384/512). A stand-in of the Azure instance
// metadata service serves the region ([WithRegion], [Server.SetRegion]) and
// managed identity tokens ([Server.AddManagedIdentity]), and every other
// managed identity source MSAL knows has a stand-in too: App Service,
// Azure Arc (its key file challenge), Cloud Shell, Service Fabric (over
// TLS, pinned by thumbprint) and Azure Machine Learning, each with its
// request shape, secret header and error shape
// ([Server.ManagedIdentityEnv] gives the environment that leads a client
// to each).
//
// # Grants
//
// client_credentials (secret in the form or with HTTP Basic; certificate
// assertions named by x5t or x5t#S256, in either base64 alphabet, padded
// or not, RS256 or PS256, aud the tenant's token endpoint on the global
// host, exp and nbf with five minutes of skew, jti never reused; federated
// credentials, see [FederatedCredential]; refused through common and
// organizations), authorization_code (one use, redirect_uri and PKCE
// checked), refresh_token (a new refresh token each time while the old one
// stays valid, or single-use with [Client.StrictRotation]; family refresh
// tokens with [Client.FamilyID]), password, the device code grant (RFC
// 8628's grant type, or device_code on Entra's shape as MSAL Go sends it;
// authorization_pending, slow_down with [WithDeviceCodeSlowDown],
// expired_token, authorization_declined; approval with
// [Server.ApproveDeviceCode]) and on-behalf-of (the assertion must be a
// user token this server issued for the middle tier's API).
//
// Responses are Entra's: token_type, expires_in, ext_expires_in, refresh_in
// for tokens living two hours or more, scope (in delegated grants: each
// granted scope with the resource prefix the request used, profile, openid
// and email for Microsoft Graph, and a requested resource/.default echoed),
// refresh_token, foci, id_token and client_info (with client_info=1). Access and ID tokens are
// RS256 JWTs; access tokens carry aud, iss, tid, oid, sub, azp/appid, scp or
// roles, xms_cc (client capabilities asked for in the claims parameter),
// acrs (authentication contexts asked for there), acr and auth_time.
// Errors carry error, error_description ("AADSTSnnn: ..." and the trace
// and correlation IDs), error_codes, timestamp, trace_id, correlation_id,
// error_uri and suberror where Entra has one, with Entra's status codes
// (401 for invalid_client, 400 otherwise).
//
// # Registrations and defaults
//
// Clients ([Server.AddClient]) are known in every tenant. Users
// ([Server.AddUser]) belong to their home tenant ([DefaultTenant] unless
// given) and their guest tenants; the domain of their username names the
// home tenant. Microsoft Graph is registered by default ([GraphAppID]);
// add your own APIs with [Server.AddAPI].
//
// # The resource
//
// [Server.Resource] (also served at /v1.0/... and /resource/...) validates
// tokens (signature with the current or previous key, audience, expiry on
// the server clock) and answers like Microsoft Graph: /v1.0/me,
// /v1.0/users, /v1.0/users/{id} and their messages. [Server.Revoke],
// [Server.RequireAuthContext] and [Server.RequireACR] make it send claims
// challenges (continuous access evaluation) and step-up challenges
// (RFC 9470). It also takes DPoP-bound tokens (RFC 9449), with the DPoP
// scheme and a proof of their key only.
//
// # DPoP
//
// [WithDPoP] turns DPoP on at the plain OpenID Connect shape: its
// discovery document lists dpop_signing_alg_values_supported, its token
// endpoint binds the tokens of a request with a valid DPoP proof to the
// proof's key (token_type DPoP, cnf.jkt), and proofs are refused when
// replayed, stale, for another method or URI, of another key, or without
// the access token's hash. [Server.RequireDPoPNonce] makes the token
// endpoint and the resource demand server nonces
// ([Server.RotateDPoPNonces] replaces them).
//
// # Test controls
//
// [Server.Requests] records every request (endpoint, grant type, form and
// headers, secrets included, which the server never logs);
// [Server.InjectFaults] makes the next requests fail (status and
// Retry-After, delay, malformed body, dropped connection, OAuth errors);
// the clock ([Server.Now], [Server.SetNow], [Server.Advance], [WithClock])
// drives every lifetime; [Server.IssueAccessToken] mints tokens directly;
// [Server.SignIn] stands for a user signed in to the browser.
//
// # TLS
//
// [NewTLSServer] has a certificate authority of its own and a certificate
// for Entra's, Graph's, B2C's and Entra External ID's host names in every
// cloud; [Server.Client] trusts it and sends every connection to the
// server, so https://login.microsoftonline.com/... and regional hosts such
// as https://westus2.login.microsoft.com/... reach it, and the recorded
// Host says which one a client used.
package authtest
