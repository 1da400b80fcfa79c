package flow

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// DefaultClockSkew is the skew [Confidential.Middleware] allows, by
// default, between the application's clock and the authority's when it
// checks a token's exp and nbf.
const DefaultClockSkew = time.Minute

// A MiddlewareOption configures the handler [Confidential.Middleware]
// returns.
type MiddlewareOption func(*middlewareConfig)

type middlewareConfig struct {
	validate  bool
	audiences []string
	tenants   []string
	issuers   []string
	skew      time.Duration
}

// WithAudiences sets the audiences (aud) a caller's token must name one
// of: the API's application ID URI (such as api://my-api) and its client
// ID. The default is the application's client ID and api://{client ID},
// what Entra puts in v2.0 and v1.0 tokens for an API whose application ID
// URI is the default one.
func WithAudiences(audiences ...string) MiddlewareOption {
	return func(c *middlewareConfig) { c.audiences = append([]string(nil), audiences...) }
}

// WithAllowedTenants sets the tenants whose callers the API serves
// (tenant IDs, compared with the token's tid). Without it, an application
// whose authority names a tenant serves that tenant's callers only, and
// one whose authority is common or organizations any tenant's. With it, a
// token must name one of tenantIDs, and the {tenantid} of an issuer
// template ([WithIssuers], or the multi-tenant issuer of a common or
// organizations authority's discovery document) may stand for any of
// them, whatever the authority: a multi-tenant API that serves only some
// tenants lists them here.
//
// The discovery document of an authority that names a tenant gives that
// tenant's issuer only: to serve callers of other tenants too, list them
// all here (the authority's own included) and name their issuer template
// in WithIssuers, such as https://login.microsoftonline.com/{tenantid}/v2.0.
func WithAllowedTenants(tenantIDs ...string) MiddlewareOption {
	return func(c *middlewareConfig) { c.tenants = append([]string(nil), tenantIDs...) }
}

// WithIssuers adds issuers (iss) to accept besides the one of the
// authority's discovery document, such as Entra's v1.0 issuer
// https://sts.windows.net/{tenantid}/ for an API that receives v1.0
// tokens. Its {tenantid} stands for the tenant the API serves: the
// authority's own tenant when the authority names one (its tenant ID,
// given or named by its discovery document's issuer), whatever tenant the
// token names; for a common or organizations authority, the token's tid;
// with [WithAllowedTenants], the token's tid when it is one of those.
// Entra signs every tenant's tokens with the same keys: filled from any
// token's tid, the template would accept every tenant's callers.
func WithIssuers(issuers ...string) MiddlewareOption {
	return func(c *middlewareConfig) { c.issuers = append([]string(nil), issuers...) }
}

// WithClockSkew sets the skew allowed when checking a token's exp and nbf
// against the application's clock ([WithClock]). The default is
// [DefaultClockSkew]; a negative d means none.
func WithClockSkew(d time.Duration) MiddlewareOption {
	return func(c *middlewareConfig) { c.skew = max(d, 0) }
}

// WithoutTokenValidation makes the middleware take the caller's token as
// it is, without checking it: for an API behind a gateway that has
// checked it already. The token is still passed on only to the authority,
// in an on-behalf-of request, which checks it; an on-behalf-of call
// refuses a token that is not a JWT in its canonical spelling
// ([ErrMalformedAssertion]) before any request.
func WithoutTokenValidation() MiddlewareOption {
	return func(c *middlewareConfig) { c.validate = false }
}

// claimsKey is the context key of a validated token's claims.
type claimsKey struct{}

// TokenClaimsFromContext returns the claims of the caller's token that
// [Confidential.Middleware] validated for this request (numbers are
// float64), for the handler's own authorization checks (scp, roles, oid,
// tid). It reports false when the middleware did not validate a token
// (see [WithoutTokenValidation]). Treat the map as read-only.
func TokenClaimsFromContext(ctx context.Context) (map[string]any, bool) {
	c, ok := ctx.Value(claimsKey{}).(map[string]any)
	return c, ok
}

// Middleware returns a handler for a web API (a middle tier) that serves
// next to callers presenting an access token for the API, and lets next
// call downstream APIs on their behalf: the caller's token
// (Authorization: Bearer …) goes into the request's context
// ([ContextWithUserAssertion]), where [Confidential.OnBehalfOfSource]
// finds it.
//
// First it validates the token (unless [WithoutTokenValidation]): a
// compact JWS whose three parts are in the one spelling RFC 7515 allows
// (base64url, no padding, the unused bits of each part's last character
// zero; any other spelling of a token verifies alike but would be another
// on-behalf-of cache key); an RS256 signature by one of the keys the
// authority publishes (its
// jwks_uri, fetched once and kept; fetched again for a key it does not
// hold, at most once a minute, and daily in the background); iss, the
// authority's issuer, the access_token_issuer its document names (AD FS
// issues access tokens under it), or one of [WithIssuers], a {tenantid}
// template standing for the tenant the API serves (the authority's own,
// or for a common or organizations authority the token's; see
// [WithAllowedTenants]); aud, one of [WithAudiences]; exp and nbf, with
// [WithClockSkew] on the application's clock; tid, one of
// [WithAllowedTenants] when given. Any other algorithm (none, HS256…) is
// refused. The validated claims are in the context too
// ([TokenClaimsFromContext]).
//
// The keys and the discovery document are the application's: every
// middleware of one application shares them. When the authority cannot
// be read, the keys and document read before keep serving, however old,
// and are read again after a backoff, so an outage of the authority fails
// no caller whose token the kept keys verify.
//
// Requests that do not pass get an RFC 6750 answer, and next never sees
// them:
//
//   - no Authorization header, or another scheme: 401 with
//     WWW-Authenticate: Bearer realm="";
//   - a malformed Bearer header (no token, characters a token cannot
//     have, several Authorization headers): 400 with error="invalid_request";
//   - a token that fails a check: 401 with error="invalid_token" and an
//     error_description saying which check failed (never the token);
//   - when the authority's keys or discovery document cannot be read, and
//     none were read before: 503.
func (c *Confidential) Middleware(next http.Handler, opts ...MiddlewareOption) http.Handler {
	cfg := middlewareConfig{validate: true, skew: DefaultClockSkew}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	var auds []string
	for _, a := range cfg.audiences {
		if a = strings.TrimSpace(a); a != "" {
			auds = append(auds, a)
		}
	}
	if len(auds) == 0 {
		auds = []string{c.clientID, "api://" + c.clientID}
	}
	m := &middleware{app: c.app, next: next, validate: cfg.validate}
	m.v = &tokenValidator{
		app:       c.app,
		authority: c.authority,
		audiences: auds,
		tenants:   cfg.tenants,
		issuers:   cfg.issuers,
		skew:      cfg.skew,
		anyTenant: c.authority.anyTenant(),
	}
	return m
}

// middleware is the handler of [Confidential.Middleware].
type middleware struct {
	app      *app
	next     http.Handler
	validate bool
	v        *tokenValidator
}

func (m *middleware) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	token, problem := bearerToken(r.Header)
	switch {
	case token == "" && problem == "":
		m.app.log.debug(ctx, "flow: web API: request without a bearer token", slog.String("path", r.URL.Path))
		writeChallenge(w, http.StatusUnauthorized, "", "")
		return
	case problem != "":
		m.app.log.debug(ctx, "flow: web API: malformed Authorization header", slog.String("problem", problem))
		writeChallenge(w, http.StatusBadRequest, "invalid_request", problem)
		return
	}
	if m.validate {
		start := time.Now()
		claims, err := m.v.validate(ctx, token)
		if err != nil {
			var ite *invalidTokenError
			if errors.As(err, &ite) {
				m.app.log.debug(ctx, "flow: web API: token rejected", slog.String("check", ite.desc))
				writeChallenge(w, http.StatusUnauthorized, "invalid_token", ite.desc)
				return
			}
			m.app.log.debug(ctx, "flow: web API: the token cannot be checked", slog.String("error", err.Error()))
			http.Error(w, "the authority's signing keys are unavailable", http.StatusServiceUnavailable)
			return
		}
		m.app.log.debug(ctx, "flow: web API: token accepted", slog.Duration("elapsed", time.Since(start)),
			m.app.log.pii("oid", claimString(claims, "oid")), m.app.log.pii("tid", claimString(claims, "tid")))
		ctx = context.WithValue(ctx, claimsKey{}, claims)
	}
	m.next.ServeHTTP(w, r.WithContext(ContextWithUserAssertion(ctx, token)))
}

// bearerToken reads the bearer token of an Authorization header (RFC
// 6750 2.1). It returns "", "" when there is no header or it is of
// another scheme, and a problem (fit for an error_description) for a
// malformed Bearer header.
func bearerToken(h http.Header) (token, problem string) {
	values := h.Values("Authorization")
	if len(values) == 0 {
		return "", ""
	}
	if len(values) > 1 {
		return "", "the request has more than one Authorization header"
	}
	v := strings.TrimLeft(values[0], " \t")
	scheme, rest, _ := strings.Cut(v, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", ""
	}
	token = strings.Trim(rest, " \t")
	switch {
	case token == "":
		return "", "the Authorization header has no bearer token"
	case !isB64Token(token):
		return "", "the bearer token has characters a token cannot have"
	}
	return token, ""
}

// isB64Token reports whether s is an RFC 6750 b64token: 1*( ALPHA /
// DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isB64Token(s string) bool {
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/') {
			break
		}
	}
	if i == 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}

// writeChallenge answers status with an RFC 6750 Bearer challenge; code
// and description (which hold no quote or backslash) only when code is
// not empty.
func writeChallenge(w http.ResponseWriter, status int, code, description string) {
	v := `Bearer realm=""`
	if code != "" {
		v += `, error="` + code + `", error_description="` + safeDescription(description) + `"`
	}
	w.Header().Set("WWW-Authenticate", v)
	http.Error(w, http.StatusText(status), status)
}

// safeDescription keeps only the characters RFC 6750 allows in an
// error_description (%x20-21 / %x23-5B / %x5D-7E): no quote, backslash
// or control character.
func safeDescription(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return -1
		}
		return r
	}, s)
}
