package bearer

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
)

// Transport is an [http.RoundTripper] that authenticates requests with
// access tokens from Source and recovers from the challenges a resource
// answers with.
//
// For each request, RoundTrip:
//
//  1. never changes the request: it sends a clone. A request that already
//     has an Authorization header (under any spelling of the key, such
//     as "AUTHORIZATION" set directly in the map) is passed to Base
//     untouched.
//  2. attaches a token only for an allowed host (see AllowedHosts); any
//     other request goes out with no token, and no token is asked for.
//     A request that follows a redirect (one [http.Client] made, with
//     Request.Response set) gets a token only when it stays on the origin
//     (scheme, host and port) of the first request of its chain, unless
//     RedirectsBetweenAllowedHosts is set.
//  3. attaches a token only over HTTPS; plain HTTP only to loopback, unless
//     AllowHTTP is set. Otherwise it returns an error wrapping
//     [ErrInsecure] before asking for a token. So it does for plain HTTP
//     to loopback that the base transport would send through a proxy
//     (the token would leave the machine in clear), where the transport
//     can see the proxy: Base nil ([http.DefaultTransport]) or an
//     [*http.Transport], whose Proxy function is asked about the request.
//  4. on a 401 with a Bearer claims challenge ([challenge.Challenge.IsCAE]),
//     asks Source for a new token with those claims (TokenRequest.Claims,
//     with Challenge set) and resends the request once, its body replayed
//     through Request.GetBody. A request whose body cannot be replayed
//     (a body and no GetBody) is never resent: the 401 is returned. So is
//     a challenge whose claims do not decode to JSON, without any token
//     request. On a step-up challenge ([challenge.Challenge.IsStepUp]) it
//     asks for a token with TokenRequest.Challenge set, then resends once.
//  5. on a 401 with error="invalid_token", resends once with a token asked
//     for with TokenRequest.ForceRefresh and TokenRequest.Challenge set to
//     the invalid_token challenge (which tells a caching source that may
//     limit such refreshes, see [ReuseTokenSource], from a caller's own
//     ForceRefresh). When the source answers with the very token that
//     was refused, the 401 is returned without a resend.
//  6. when Source fails while satisfying a challenge, drains (up to
//     64 KiB) and closes the 401 and returns (nil, *[ChallengeError]).
//     This is a deliberate exception to the rule that a RoundTripper
//     returns no error once it has a response: the caller needs the
//     source's error (such as [ErrInteractionRequired]) together with the
//     challenge.
//  7. resends at most once per cause and twice in all (a DPoP nonce, then
//     a claims challenge); a challenge that comes back is returned as it
//     is. Before a resend the 401's body is drained (up to 64 KiB) and
//     closed, so its connection is reused.
//  8. keeps no tokens: it asks Source on every request, so one Transport
//     serves many identities (for example on-behalf-of, with the user's
//     assertion in the request's context). Wrap a source in
//     [ReuseTokenSource], or use a caching source, to avoid a token
//     request per HTTP request.
//
// Only challenges of the scheme the token was sent with count: Bearer,
// or for a [RequestAuthorizer] source, the scheme it wrote into the
// Authorization header (such as DPoP) as well as Bearer.
//
// A Transport's fields must not be changed after its first use; the
// transport may be used by many goroutines at once.
type Transport struct {
	// Source supplies the tokens. It is required. If it implements
	// [RequestAuthorizer], it puts each token on the request itself.
	Source TokenSource

	// Scopes are the scopes asked for, unless the request's context
	// carries its own (see [ContextWithScopes]). They also decide the
	// default allowed hosts.
	Scopes []string

	// Base is the RoundTripper that sends the requests. If nil,
	// [http.DefaultTransport] is used.
	Base http.RoundTripper

	// AllowedHosts are the hosts a token may be sent to. An entry is a
	// host name or IP address, which allows that host exactly, or
	// "*.suffix", which allows every subdomain of suffix but not suffix
	// itself. Names are matched case-insensitively, ASCII only. An entry
	// may end in ":port" ("127.0.0.1:8443", "[::1]:8443",
	// "api.example.com:8443", "*.example.com:8443"): it then allows those
	// hosts on that port only, where a URL without a port is on its
	// scheme's default port (443 for https, 80 for http).
	//
	// When AllowedHosts is empty, the allowed hosts follow the request's
	// scopes: the host of each https:// scope and its subdomains; for Azure
	// resources whose API hosts differ from their scope, those hosts
	// (Storage → *.blob|queue|table|file|dfs.core.windows.net, Service
	// Bus and Event Hubs → *.servicebus.windows.net, Cognitive Services →
	// *.openai.azure.com, Resource Manager's classic audience →
	// management.azure.com, and their twins in Azure China and Azure
	// Government); and for bare scopes such as "User.Read" or
	// "00000003-0000-0000-c000-000000000000/.default", graph.microsoft.com.
	// Scopes such as "api://app/.default" name no host.
	//
	// A transport that allows no host at all is misconfigured: RoundTrip
	// returns an error wrapping [ErrNoAllowedHost].
	AllowedHosts []string

	// AllowHTTP lets tokens go over plain HTTP to hosts other than
	// loopback. Use it only for test set-ups.
	AllowHTTP bool

	// RedirectsBetweenAllowedHosts lets a request that follows a redirect
	// carry a token to any allowed host, when the request that started
	// the chain went to an allowed host too.
	//
	// By default such a request carries a token only when it stays on
	// the origin of the first request of its chain: the same scheme,
	// host and port, so https, or plain HTTP where the first request
	// could carry a token over it. Two hosts that match one "*.suffix"
	// entry may belong to different owners (anyone can create a storage
	// account under *.blob.core.windows.net), so a redirect from one to
	// the other must not take the token along. A redirect whose chain
	// cannot be followed back to its first request (a Base that leaves
	// Response.Request nil, as [http.Transport] never does) gets no
	// token. Set this only when every allowed host is the caller's own.
	RedirectsBetweenAllowedHosts bool

	// Trace, if not nil, is told of the tokens the transport asks for,
	// the challenges it meets and the tokens it withholds (see
	// [TransportTrace]; [ContextWithTrace] sets hooks for one request).
	Trace *TransportTrace

	cfg atomic.Pointer[transportConfig]
}

// transportConfig is what RoundTrip derives from the fields, once.
type transportConfig struct {
	err        error             // misconfiguration, returned by every RoundTrip
	explicit   bool              // AllowedHosts was set: hosts does not follow the scopes
	hosts      hostSet           // allowed hosts for Transport.Scopes (or AllowedHosts)
	authorizer RequestAuthorizer // Source, when it authorizes requests itself
	nonces     NonceReceiver     // Source, when it keeps DPoP nonces
}

func (t *Transport) config() *transportConfig {
	if c := t.cfg.Load(); c != nil {
		return c
	}
	c := new(transportConfig)
	switch {
	case t.Source == nil:
		c.err = errors.New("bearer: Transport.Source is nil")
	case len(t.AllowedHosts) > 0:
		c.explicit = true
		c.hosts, c.err = parseAllowedHosts(t.AllowedHosts)
	default:
		c.hosts = scopeHosts(t.Scopes)
	}
	c.authorizer, _ = t.Source.(RequestAuthorizer)
	if c.authorizer != nil {
		c.nonces, _ = t.Source.(NonceReceiver)
	}
	t.cfg.CompareAndSwap(nil, c)
	return t.cfg.Load()
}

func (t *Transport) base() http.RoundTripper {
	if t.Base != nil {
		return t.Base
	}
	return http.DefaultTransport
}

// RequestAuthorizer is implemented by a [TokenSource] that puts tokens on
// requests itself, as proof-of-possession schemes such as DPoP (RFC 9449)
// need. [Transport] then calls AuthorizeRequest instead of setting
// "Authorization: Bearer <token>".
//
// AuthorizeRequest receives the transport's own clone of the request,
// which it may change. nonce is the server's latest DPoP-Nonce after a
// use_dpop_nonce challenge, "" otherwise (a source that also implements
// [NonceReceiver] is handed every response's DPoP-Nonce, and keeps the
// nonces itself). An error stops the request; it must not contain the
// token.
type RequestAuthorizer interface {
	AuthorizeRequest(req *http.Request, tok Token, nonce string) error
}

type scopesKey struct{}

// contextScopes is what ContextWithScopes stores: the scopes and the
// allowed hosts that follow from them.
type contextScopes struct {
	scopes []string
	hosts  hostSet
}

// ContextWithScopes returns a copy of ctx that makes [Transport] ask for
// scopes instead of its Scopes field, for the requests made with it. When
// the transport's AllowedHosts is empty, the allowed hosts follow these
// scopes too.
func ContextWithScopes(ctx context.Context, scopes ...string) context.Context {
	s := slices.Clone(scopes)
	return context.WithValue(ctx, scopesKey{}, &contextScopes{scopes: s, hosts: scopeHosts(s)})
}

// RoundTrip sends req with a token as described on [Transport]. It does
// not change req.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	cfg := t.config()
	if cfg.err != nil {
		closeBody(req)
		return nil, cfg.err
	}
	if req.URL == nil {
		closeBody(req)
		return nil, errors.New("bearer: request has no URL")
	}
	ctx := req.Context()
	scopes, hosts := t.Scopes, &cfg.hosts
	if cs, ok := ctx.Value(scopesKey{}).(*contextScopes); ok {
		scopes = cs.scopes
		if !cfg.explicit {
			hosts = &cs.hosts
		}
	}
	if hosts.empty() {
		closeBody(req)
		return nil, fmt.Errorf("%w (scopes %q)", ErrNoAllowedHost, scopes)
	}
	if hasAuthorization(req.Header) {
		return t.base().RoundTrip(req)
	}
	if !allowed(hosts, req) {
		t.withheldFrom(ctx, req.URL.Scheme, req.URL.Host, WithheldHostNotAllowed)
		return t.base().RoundTrip(req)
	}
	r2, slot := cloneUnauthorized(req)
	if r2 == nil {
		// The caller's own Authorization under another spelling.
		return t.base().RoundTrip(req)
	}
	if req.URL.Scheme != "https" && !(req.URL.Scheme == "http" && (t.AllowHTTP || isLoopback(req.URL.Hostname()))) {
		closeBody(req)
		t.withheldFrom(ctx, req.URL.Scheme, req.URL.Host, WithheldInsecure)
		return nil, fmt.Errorf("%w: refusing to send a token to %s://%s", ErrInsecure, clip(req.URL.Scheme), clip(req.URL.Host))
	}
	if req.URL.Scheme != "https" && !t.AllowHTTP {
		// Plain HTTP, allowed because the host is loopback: unless a
		// proxy would carry it.
		if err := t.checkNoProxy(req); err != nil {
			closeBody(req)
			t.withheldFrom(ctx, req.URL.Scheme, req.URL.Host, WithheldProxy)
			return nil, err
		}
	}
	if req.Response != nil && !t.redirectMayCarryToken(req, hosts) {
		t.withheldFrom(ctx, req.URL.Scheme, req.URL.Host, WithheldRedirect)
		return t.base().RoundTrip(req)
	}

	tok, err := t.tracesOf(ctx).token(ctx, t.Source, TokenRequest{Scopes: scopes}, "")
	if err != nil {
		closeBody(req)
		return nil, fmt.Errorf("bearer: getting a token for %s: %w", clip(req.URL.Host), err)
	}
	if err := authorize(r2, cfg.authorizer, tok, "", slot); err != nil {
		closeBody(req)
		return nil, err
	}
	resp, err := t.base().RoundTrip(r2)
	if cfg.nonces != nil && err == nil {
		receiveNonce(cfg.nonces, r2, resp)
	}
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	return t.recover(req, resp, cfg.authorizer, scopes, tok, authScheme(r2.Header))
}

// CloseIdleConnections closes the idle connections of Base (or of
// [http.DefaultTransport]) when it has a CloseIdleConnections method.
func (t *Transport) CloseIdleConnections() {
	type closeIdler interface{ CloseIdleConnections() }
	if c, ok := t.base().(closeIdler); ok {
		c.CloseIdleConnections()
	}
}

// allowed reports whether req may carry a token: its URL's host is
// allowed (on its port, for entries with a port), and so is its Host
// field when that names another host (on the Host field's port, else the
// URL's).
func allowed(hosts *hostSet, req *http.Request) bool {
	if len(hosts.ported) == 0 {
		if !hosts.allows(req.URL.Hostname()) {
			return false
		}
		if req.Host != "" && req.Host != req.URL.Host {
			return hosts.allows(hostname(req.Host))
		}
		return true
	}
	port := effectivePort(req.URL.Scheme, req.URL.Port())
	if !hosts.allowsOn(req.URL.Hostname(), port) {
		return false
	}
	if req.Host != "" && req.Host != req.URL.Host {
		if p := portOf(req.Host); p != "" {
			port = p
		}
		return hosts.allowsOn(hostname(req.Host), port)
	}
	return true
}

// checkNoProxy returns an error wrapping [ErrInsecure] when the base
// transport, if it is an *http.Transport (the default one included),
// would send req through a proxy.
func (t *Transport) checkNoProxy(req *http.Request) error {
	ht, ok := t.base().(*http.Transport)
	if !ok || ht.Proxy == nil {
		return nil
	}
	u, err := ht.Proxy(req)
	switch {
	case err != nil:
		// Its error is not passed on: it may quote a proxy URL with
		// credentials (ProxyFromEnvironment's does).
		return fmt.Errorf("%w: refusing to send a token over plain http to %s: the base transport's Proxy function failed, so whether a proxy would carry it is unknown",
			ErrInsecure, clip(req.URL.Host))
	case u != nil:
		// The proxy's host only: its URL may carry credentials.
		return fmt.Errorf("%w: refusing to send a token over plain http to %s through the proxy %s, which would see it in clear (use https, or set Transport.AllowHTTP)",
			ErrInsecure, clip(req.URL.Host), clip(u.Host))
	}
	return nil
}

// maxRedirectChain bounds the walk back through a redirect chain
// (http.Client stops after 10 redirects by default).
const maxRedirectChain = 64

// redirectMayCarryToken reports whether req, a request that follows a
// redirect (req.Response is set), may carry a token: when it stays on
// the origin of the first request of its chain, or with
// RedirectsBetweenAllowedHosts, when that first request went to an
// allowed host.
func (t *Transport) redirectMayCarryToken(req *http.Request, hosts *hostSet) bool {
	first := req
	for i := 0; first.Response != nil; i++ {
		if first.Response.Request == nil || i == maxRedirectChain {
			return false // the chain cannot be followed back
		}
		first = first.Response.Request
	}
	if first.URL == nil {
		return false
	}
	if t.RedirectsBetweenAllowedHosts {
		return allowed(hosts, first)
	}
	return sameOrigin(first, req)
}

// sameOrigin reports whether a and b go to the same origin: scheme, host
// and port of their URLs, and the same Host field when either names
// another host.
func sameOrigin(a, b *http.Request) bool {
	if !asciiEqualFold(a.URL.Scheme, b.URL.Scheme) ||
		!sameHost(a.URL.Hostname(), b.URL.Hostname()) ||
		effectivePort(a.URL.Scheme, a.URL.Port()) != effectivePort(b.URL.Scheme, b.URL.Port()) {
		return false
	}
	return sameHost(hostname(requestHost(a)), hostname(requestHost(b)))
}

// requestHost is the host a request names: its Host field, else its URL's.
func requestHost(r *http.Request) string {
	if r.Host != "" {
		return r.Host
	}
	return r.URL.Host
}

// sameHost compares two host names, ASCII case-insensitively, without a
// trailing dot.
func sameHost(a, b string) bool {
	return asciiEqualFold(strings.TrimSuffix(a, "."), strings.TrimSuffix(b, "."))
}

// effectivePort is port, or the scheme's default port when it is empty.
func effectivePort(scheme, port string) string {
	if port != "" {
		return port
	}
	if asciiEqualFold(scheme, "http") {
		return "80"
	}
	return "443"
}

// hasAuthorization reports whether h has an Authorization header under
// its canonical name or the lower-case one HTTP/2 code tends to use.
// Other spellings are found by cloneUnauthorized, which walks the keys
// anyway.
func hasAuthorization(h http.Header) bool {
	if _, ok := h["Authorization"]; ok {
		return true
	}
	_, ok := h["authorization"] //lint:ignore SA1008 looking for a non-canonical key on purpose
	return ok
}

// cloneUnauthorized returns req.Clone(req.Context()), or nil when req's
// header has an Authorization key under a spelling hasAuthorization does
// not look up ("AUTHORIZATION", set directly in the map: net/http
// documents canonical keys, but sends such a key as written, so a
// second Authorization line would go beside it).
//
// The header is copied here, as [http.Header.Clone] does (a first walk
// counts the values, a second copies them), and the first walk looks at
// the keys too: requests without the header pay no walk of their own.
// The values' shared backing array has one more slot, returned as slot
// (length and capacity 1, shared with nothing else): the Authorization
// value goes there, at no allocation of its own.
func cloneUnauthorized(req *http.Request) (r2 *http.Request, slot []string) {
	h := req.Header
	nv := 0
	for k, vv := range h {
		nv += len(vv)
		if len(k) == len("Authorization") && asciiEqualFold(k, "Authorization") {
			return nil, nil
		}
	}
	shallow := *req
	shallow.Header = nil
	r2 = shallow.Clone(req.Context()) // everything but the header
	if h == nil {
		return r2, nil
	}
	sv := make([]string, nv+1) // shared backing array for the values
	slot = sv[nv : nv+1 : nv+1]
	sv = sv[:nv]
	h2 := make(http.Header, len(h)+1) // room for the Authorization header
	for k, vv := range h {
		if vv == nil {
			h2[k] = nil // kept nil, as Header.Clone does
			continue
		}
		n := copy(sv, vv)
		h2[k] = sv[:n:n]
		sv = sv[n:]
	}
	r2.Header = h2
	return r2, slot
}

// authorize puts tok on req (the transport's own clone). slot, when not
// nil, is where the Authorization value goes (see cloneUnauthorized).
func authorize(req *http.Request, ra RequestAuthorizer, tok Token, nonce string, slot []string) error {
	if ra != nil {
		if err := ra.AuthorizeRequest(req, tok, nonce); err != nil {
			return fmt.Errorf("bearer: authorizing the request: %w", err)
		}
		return nil
	}
	if tok.AccessToken == "" {
		return errors.New("bearer: the token source returned an empty access token")
	}
	if tok.TokenType != "" && !asciiEqualFold(tok.TokenType, "Bearer") {
		return fmt.Errorf("bearer: the token source returned a token of type %q, which needs a source that implements RequestAuthorizer", clip(tok.TokenType))
	}
	if req.Header == nil {
		req.Header = make(http.Header, 1)
	}
	if slot == nil {
		slot = make([]string, 1)
	}
	slot[0] = tok.authorizationValue()
	req.Header["Authorization"] = slot[:1:1]
	return nil
}

// authScheme returns the scheme of h's Authorization header.
func authScheme(h http.Header) string {
	v := h.Get("Authorization")
	if i := strings.IndexByte(v, ' '); i >= 0 {
		v = v[:i]
	}
	return v
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}
