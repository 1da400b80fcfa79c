// Package flow gets tokens from Microsoft Entra ID or any OpenID Connect
// authority, the way MSAL Python's ConfidentialClientApplication and
// PublicClientApplication do, and hands them to [bearer.Transport] as
// [bearer.TokenSource] values.
//
// # Applications
//
// A [Confidential] application holds a credential (package credential: a
// secret, a certificate, an assertion). It gets tokens for itself
// ([Confidential.AcquireTokenForClient], the client credentials grant)
// and, in a web API, for the users calling it
// ([Confidential.AcquireTokenOnBehalfOf]). Applications are configured
// with [Option] values (WithAuthority, WithRegion, WithCapabilities…) and
// each call with [CallOption] values (Claims, Tenant, ForceRefresh…).
// Every AcquireToken… call returns a [Result].
//
// # Signing users in
//
// A [Public] application (MSAL's PublicClientApplication: desktop,
// mobile, command-line) and a Confidential one (a web app) share the user
// flows: the authorization code flow with PKCE
// ([Confidential.InitiateAuthCodeFlow], then
// [Confidential.AcquireTokenByAuthCodeFlow] with the response: state,
// nonce and PKCE made and checked), the legacy authorization code calls,
// a refresh token from elsewhere, a username and password. Every ID token
// received is verified against the authority's published keys
// ([IDTokenError] says which check failed). The tokens are cached under
// the user's [Account]; [Confidential.AcquireTokenSilent] and
// [Confidential.AccountSource] get later ones from the cache or the
// refresh token, and an [*InteractionError] says when only the user can
// help. A call given an option it does not use fails with
// [ErrInvalidOption]. A desktop or command-line app signs its user in
// through the system browser ([Public.AcquireTokenInteractive]: a
// loopback redirect server, see [WithBrowser]) or with a code entered
// on another device ([Public.AcquireTokenByDeviceCode]).
//
// # Managed identity and the default chain
//
// On Azure a program needs no secret: [NewManagedIdentity] gets the host's
// managed identity tokens (IMDS, App Service, Azure Arc, Cloud Shell,
// Service Fabric, Azure ML), [NewWorkloadIdentity] a Kubernetes workload
// identity's, and [NewDefault] picks the first credential configured
// where the program runs, as azidentity's DefaultAzureCredential does.
//
// # Sources
//
// [Confidential.ClientSource], [Confidential.OnBehalfOfSource] and
// [Confidential.AccountSource] are [bearer.TokenSource] values: give one to a [bearer.Transport] and every
// request it sends carries a token, renewed when a resource answers with
// a claims challenge. On-behalf-of tokens follow the user's assertion in
// each request's context ([ContextWithUserAssertion]), so one transport
// serves every caller of a web API; [Confidential.Middleware] validates
// the callers' tokens and puts them there.
//
// # Caching
//
// Tokens are kept in a [cache.Cache] (in memory unless [WithCache] gives
// one that persists), partitioned per identity: the application and
// tenant for its own tokens, a hash of the user's assertion for
// on-behalf-of tokens, the user's account for the user flows; within a
// partition, by the authority's host and tenant (an OpenID Connect
// authority's tenant is its issuer URL). A cached token is served until the last min(5 min,
// lifetime/10) of its life, and refreshed in the background past the
// authority's refresh_in; concurrent identical calls share one request.
// Claims and ForceRefresh skip the cache's read, not its write.
//
// With a cache in front of a store (cache/filestore, cache/redisstore),
// tokens outlive a restart and are shared by every process using the
// store; with a store that grants leases (the Redis store), processes
// that miss the same token at once make one request between them
// ([WithFleetCoalescing]). [WithMetadataStore] keeps discovery documents
// in a store too, checked again when read back.
//
// # Authorities
//
// Entra's public and sovereign clouds, with a tenant ID or domain or
// common / organizations / consumers; Azure AD B2C; Entra External ID
// (CIAM); ADFS; and any OpenID Connect authority. The endpoints of
// Entra's known hosts, B2C, External ID and ADFS are computed without a
// network round trip; other authorities are discovered once and cached.
// A discovery document more than a day old keeps serving while it is read
// again in the background, and for as long as reading it fails (tried
// again after a backoff: 5 s, doubled, at most a minute); a discovery that
// fails with no document to serve is remembered for that backoff, so a
// flood of calls during an outage makes one request, not one each. The
// token cache is read before anything that needs the network: a cached
// token is served while its authority cannot be reached.
//
// # DPoP
//
// With [WithDPoP], tokens are bound to a key the application holds (RFC
// 9449) and the sources put them on requests with a proof of that key,
// answering servers' nonce challenges; [Confidential.SupportsDPoP] tells
// whether the authority supports it.
//
// # Errors
//
// Calls to the authority are retried on connection errors and on 429,
// 500, 502, 503 and 504 (at most twice, honouring Retry-After within the
// context's deadline), never on other errors. An authority's error
// response is an [*Error]; one that only a signed-in user can resolve
// matches [ErrInteractionRequired].
//
// # Logging
//
// [WithLogger] receives debug records of what was asked, from where,
// cache hits and misses, retries and timings. Nothing is logged, put in
// an error or printed by a value's String that is a secret: no client
// secret, assertion, token, authorization code or password. [WithPII]
// adds usernames and object IDs.
package flow
