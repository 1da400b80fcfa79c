// Package bearer authenticates outgoing HTTP requests with OAuth 2.0
// access tokens, from Microsoft Entra ID or any standards-compliant
// authority, and recovers by itself when a resource answers with a
// challenge.
//
// The package holds the small pieces everything else plugs into: [Token],
// [TokenRequest], the [TokenSource] interface, [Transport] (a
// [net/http.RoundTripper] that puts tokens on the wire) and
// [ReuseTokenSource] (a cache in front of a source). The ways of getting a
// token (client credentials, on-behalf-of, a signed-in user, managed
// identity) live in package flow; the WWW-Authenticate grammar lives in
// package challenge.
//
// # Why a transport that reads challenges
//
// With Continuous Access Evaluation (CAE), Microsoft Graph and other
// resources accept long-lived tokens and revoke them as events happen (a
// password reset, a disabled account, a changed network location). A
// revoked token is answered with
//
//	401 Unauthorized
//	WWW-Authenticate: Bearer error="insufficient_claims", claims="eyJhY2Nlc3NfdG9rZW4iOnsi..."
//
// and the client must get a new token carrying those claims and try
// again. Conditional Access authentication contexts and step-up
// authentication (RFC 9470) work the same way. [Transport] does this for
// every request: it asks its source for a token with the challenge's
// claims (or the challenge itself, for step-up), and sends the request
// once more, body included: the body is replayed through
// Request.GetBody, which [net/http.NewRequest] sets for in-memory bodies.
// A request whose body cannot be replayed is never resent, and nothing is
// ever retried in a loop. When only a signed-in user could satisfy the
// challenge, the caller gets a [*ChallengeError] wrapping
// [ErrInteractionRequired], with the challenge, to hand to an interactive
// flow.
//
// # Why host safety
//
// A bearer token is a password for its resource. The transport attaches
// one only to hosts the scopes name (or AllowedHosts lists), only over
// HTTPS, and never to another host the client is redirected to. The
// golang.org/x/oauth2 transport attaches its token to every request it
// sends, redirects to other hosts included.
//
// # What belongs elsewhere
//
// The transport answers 401 challenges only. Throttling (429,
// Retry-After) is the business of the calls to the authority (package
// flow retries those) and of the application's own retry policy for the
// resource.
//
// # Caching
//
// [Transport] keeps no tokens: it asks its source on every request, so one
// transport can serve many identities. Caching is the source's job:
// [ReuseTokenSource] caches a single identity's tokens, refreshes them in
// the background before they expire and coalesces concurrent requests;
// the sources of package flow cache per identity in a token cache shared
// with other MSAL libraries.
//
// # Observability
//
// [TransportTrace] holds hooks, in the manner of
// [net/http/httptrace.ClientTrace], that count and time what the
// transport does: token requests to its source, challenges, resends,
// tokens withheld, challenges it could not satisfy. Set it on
// [Transport.Trace], or per request with [ContextWithTrace]. Package
// flow's Trace reports the sources' side: cache hits, requests to the
// authority and their status, coalesced waits, background refreshes.
// Neither gives a hook a token or a secret, and neither costs an
// allocation when unset.
package bearer
