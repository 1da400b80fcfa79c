package flow

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bearerhttp/bearer/internal/oauth"
	"github.com/bearerhttp/bearer/internal/redact"
)

var (
	// ErrStateMismatch is wrapped by the error of
	// AcquireTokenByAuthCodeFlow (and of AdminConsentResult) for a
	// response whose state is missing or is not the flow's: a forged or
	// stale response (cross-site request forgery). Nothing is sent to the
	// authority.
	ErrStateMismatch = errors.New("flow: the response's state is not the flow's")
	// ErrInvalidAuthResponse is wrapped by the error for an authorization
	// response that carries neither a code nor an error, or repeats a
	// parameter.
	ErrInvalidAuthResponse = errors.New("flow: invalid authorization response")
)

// AuthCodeFlow is a sign-in under way through the authorization code flow
// with PKCE: what [Confidential.InitiateAuthCodeFlow] (or
// [Public.InitiateAuthCodeFlow]) made, to keep until the user comes back
// and to give to AcquireTokenByAuthCodeFlow with the response. It
// marshals to JSON (field names as MSAL Python's auth_code_flow dict), so
// a web app can keep it in the user's session.
//
// It holds the PKCE code verifier, a secret: keep it on the server side
// (a server-side session, or an encrypted and authenticated cookie),
// never in plain sight of the browser. Its String, GoString, Format and
// LogValue methods never show the verifier, the nonce, the state or the
// authorization URI's query (which holds the login hint).
type AuthCodeFlow struct {
	// AuthURI is the authorization request URL to send the user's
	// browser to.
	AuthURI string `json:"auth_uri"`
	// State is the request's state, which the response must carry back.
	State string `json:"state"`
	// Nonce is the nonce the ID token must carry; empty when the scopes
	// exclude openid.
	Nonce string `json:"nonce,omitempty"`
	// CodeVerifier is the PKCE (RFC 7636) verifier whose S256 challenge
	// the request sent. A secret.
	CodeVerifier string `json:"code_verifier"`
	// RedirectURI is where the authority sends the response.
	RedirectURI string `json:"redirect_uri"`
	// Scopes are the scopes asked for, without the reserved ones the
	// request adds (openid, offline_access, profile).
	Scopes []string `json:"scope"`
	// Claims is the claims request of the sign-in (without the client
	// capabilities, which are added again at redemption); empty for none.
	Claims string `json:"claims_challenge,omitempty"`
	// MaxAge, when not nil, is the request's max_age in seconds: the ID
	// token's auth_time is checked against it.
	MaxAge *int64 `json:"max_age,omitempty"`
	// Authority is the authority the request went to (the application's,
	// or the call's Authority or Tenant), where the code is redeemed.
	Authority string `json:"authority,omitempty"`
}

// redactedFlow has AuthCodeFlow's fields as String shows them.
type redactedFlow struct {
	AuthURI      string
	State        string
	Nonce        string
	CodeVerifier string
	RedirectURI  string
	Scopes       []string
	Claims       string
	MaxAge       *int64
	Authority    string
}

func (f AuthCodeFlow) redacted() redactedFlow {
	return redactedFlow{
		AuthURI: withoutQuery(f.AuthURI), State: hide(f.State), Nonce: hide(f.Nonce), CodeVerifier: hide(f.CodeVerifier),
		RedirectURI: f.RedirectURI, Scopes: f.Scopes, Claims: f.Claims, MaxAge: f.MaxAge, Authority: f.Authority,
	}
}

// withoutQuery returns u without its query (which holds the state, the
// nonce and the login hint), marked "?…" when it had one.
func withoutQuery(u string) string {
	if base, _, ok := strings.Cut(u, "?"); ok {
		return base + "?…"
	}
	return u
}

// String returns f's fields with the code verifier, nonce and state
// redacted and the authorization URI without its query.
func (f AuthCodeFlow) String() string { return redact.String(f.redacted()) }

// GoString is String, for %#v.
func (f AuthCodeFlow) GoString() string { return redact.GoString("flow.AuthCodeFlow", f.redacted()) }

// Format formats f like a struct for every verb and flag, redacted as
// String redacts it.
func (f AuthCodeFlow) Format(s fmt.State, verb rune) {
	redact.Format(s, verb, "flow.AuthCodeFlow", f.redacted())
}

// LogValue presents f to log/slog without its secrets.
func (f AuthCodeFlow) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("redirect_uri", f.RedirectURI),
		slog.Any("scopes", f.Scopes),
		slog.String("authority", f.Authority),
		slog.Bool("claims", f.Claims != ""),
	)
}

// ACRValues asks the sign-in for these authentication context class
// references (acr_values, OpenID Connect Core 3.1.2.1), such as the
// values of a step-up challenge. Used by InitiateAuthCodeFlow,
// AuthorizationRequestURL and AcquireTokenInteractive.
func ACRValues(values ...string) CallOption {
	v := slices.Clone(values)
	return func(c *callConfig) { c.acrValues, c.given = v, c.given|optACRValues }
}

// Nonce sets the nonce of a sign-in made by hand: AuthorizationRequestURL
// sends it, and AcquireTokenByAuthorizationCode checks that the ID token
// carries it. [Confidential.InitiateAuthCodeFlow] makes one itself. Used
// by AuthorizationRequestURL and AcquireTokenByAuthorizationCode.
func Nonce(nonce string) CallOption {
	return func(c *callConfig) { c.nonce, c.given = nonce, c.given|optNonce }
}

// PKCE sets the PKCE (RFC 7636) code verifier of a sign-in made by hand
// (43 to 128 characters of A-Z, a-z, 0-9, "-", ".", "_", "~"):
// AuthorizationRequestURL sends its S256 challenge, and
// AcquireTokenByAuthorizationCode sends it with the code.
// [Confidential.InitiateAuthCodeFlow] makes one itself. Used by
// AuthorizationRequestURL and AcquireTokenByAuthorizationCode.
func PKCE(codeVerifier string) CallOption {
	return func(c *callConfig) { c.pkce, c.given = codeVerifier, c.given|optPKCE }
}

// checkVerifier checks a PKCE code verifier's form (RFC 7636 4.1).
func checkVerifier(v string) error {
	if len(v) < 43 || len(v) > 128 {
		return fmt.Errorf("%w: a PKCE code verifier has 43 to 128 characters, not %d", ErrInvalidOption, len(v))
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return fmt.Errorf("%w: a PKCE code verifier has only A-Z, a-z, 0-9, '-', '.', '_' and '~'", ErrInvalidOption)
		}
	}
	return nil
}

// s256 is the S256 code challenge of a verifier.
func s256(verifier string) string {
	h := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// checkRedirectURI checks a redirect URI: an absolute URL without a
// fragment (a native app's custom scheme is allowed).
func checkRedirectURI(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || (u.Host == "" && u.Opaque == "" && u.Path == "") || u.Fragment != "" {
		return fmt.Errorf("%w: the redirect URI %q is not an absolute URL without a fragment", ErrInvalidOption, raw)
	}
	return nil
}

// signInRequest is an authorization request being built.
type signInRequest struct {
	scopes      []string // as the caller gave them
	redirectURI string
	state       string
	nonce       string
	verifier    string
	cc          callConfig
}

// authorizationURL builds the authorization request URL of s at a, as
// MSAL does: the reserved scopes added, client_info=1 for Entra's
// authorities, the claims merged with the capabilities.
func (u users) authorizationURL(ctx context.Context, a authority, s signInRequest) (string, error) {
	ep, err := u.endpointsOf(ctx, a)
	if err != nil {
		return "", err
	}
	if ep.authorization == "" {
		return "", fmt.Errorf("%w: %s publishes no authorization endpoint", ErrUnsupported, a)
	}
	cc := s.cc
	switch cc.responseMode {
	case "", ResponseModeQuery, ResponseModeFormPost, ResponseModeFragment:
	default:
		return "", fmt.Errorf("%w: response mode %q is not query, form_post or fragment", ErrInvalidOption, cc.responseMode)
	}
	claims, err := u.claimsFor(cc.claims)
	if err != nil {
		return "", err
	}
	q := url.Values{}
	q.Set("client_id", u.clientID)
	q.Set("response_type", "code")
	q.Set("redirect_uri", s.redirectURI)
	q.Set("scope", strings.Join(oauth.UserScopes(s.scopes, u.cfg.excludeScopes), " "))
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("state", s.state)
	set("nonce", s.nonce)
	if s.verifier != "" {
		q.Set("code_challenge", s256(s.verifier))
		q.Set("code_challenge_method", "S256")
	}
	set("prompt", cc.prompt)
	set("login_hint", cc.loginHint)
	set("domain_hint", cc.domainHint)
	set("claims", claims)
	set("response_mode", cc.responseMode)
	if len(cc.acrValues) > 0 {
		q.Set("acr_values", strings.Join(cc.acrValues, " "))
	}
	if cc.hasMaxAge {
		q.Set("max_age", strconv.FormatInt(int64(cc.maxAge/time.Second), 10))
	}
	if a.kind != kindOIDC && a.kind != kindADFS {
		q.Set("client_info", "1")
	}
	au, err := url.Parse(ep.authorization)
	if err != nil {
		return "", fmt.Errorf("%w: %s: the authorization endpoint is not a URL", ErrDiscovery, a)
	}
	if au.RawQuery != "" { // keep what the endpoint itself carries (B2C's p=…)
		for k, vs := range au.Query() {
			if _, ours := q[k]; !ours {
				q[k] = vs
			}
		}
	}
	au.RawQuery = q.Encode()
	return au.String(), nil
}

// initiateAuthCodeFlow is InitiateAuthCodeFlow.
func (u users) initiateAuthCodeFlow(ctx context.Context, scopes []string, redirectURI string, opts []CallOption) (AuthCodeFlow, error) {
	cc, err := newCallConfigFor("InitiateAuthCodeFlow", usedBySignInURL, opts...)
	if err != nil {
		return AuthCodeFlow{}, err
	}
	if err := checkRedirectURI(redirectURI); err != nil {
		return AuthCodeFlow{}, err
	}
	a, err := u.authorityFor(cc)
	if err != nil {
		return AuthCodeFlow{}, err
	}
	s := signInRequest{
		scopes: oauth.AppScopes(scopes), redirectURI: redirectURI, state: cc.state,
		verifier: randomString(32), cc: cc,
	}
	if s.state == "" {
		s.state = randomString(24)
	}
	userScopes := oauth.UserScopes(scopes, u.cfg.excludeScopes)
	if slices.ContainsFunc(userScopes, func(s string) bool { return strings.EqualFold(s, "openid") }) {
		s.nonce = randomString(24)
	}
	uri, err := u.authorizationURL(ctx, a, s)
	if err != nil {
		return AuthCodeFlow{}, err
	}
	f := AuthCodeFlow{
		AuthURI: uri, State: s.state, Nonce: s.nonce, CodeVerifier: s.verifier, RedirectURI: redirectURI,
		Scopes: withoutReserved(s.scopes), Claims: cc.claims, Authority: a.String(),
	}
	if cc.hasMaxAge {
		secs := int64(cc.maxAge / time.Second)
		f.MaxAge = &secs
	}
	u.log.debug(ctx, "flow: auth code flow initiated", slog.String("authority", f.Authority),
		slog.Any("scopes", f.Scopes), slog.String("redirect_uri", redirectURI))
	return f, nil
}

// withoutReserved returns scopes without openid, offline_access and
// profile.
func withoutReserved(scopes []string) []string {
	out := make([]string, 0, len(scopes))
	for _, s := range scopes {
		if !slices.ContainsFunc(oauth.ReservedScopes, func(r string) bool { return strings.EqualFold(r, s) }) {
			out = append(out, s)
		}
	}
	return out
}

// single returns the one value of key in v: "" when absent, an error when
// repeated (parameter pollution).
func single(v url.Values, key string) (string, error) {
	switch vs := v[key]; len(vs) {
	case 0:
		return "", nil
	case 1:
		return vs[0], nil
	}
	return "", fmt.Errorf("%w: the parameter %s is repeated", ErrInvalidAuthResponse, key)
}

// maxResponseField bounds the text of an authorization response's error
// fields that an Error carries.
const maxResponseField = 512

// cleanField keeps at most maxResponseField printable characters of an
// error field that came through the user's browser.
func cleanField(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > maxResponseField {
		s = s[:maxResponseField] + "…"
	}
	return s
}

// authResponse reads an authorization response (the redirect's query or
// form_post body) for a flow whose state is state: the state is checked
// first (a mismatch wraps ErrStateMismatch, in constant time), then an
// error response becomes an [*Error], then the code is returned. Nothing
// of the response that could be a secret (the code) is ever put in an
// error.
func authResponse(state string, response url.Values) (string, error) {
	if state == "" {
		return "", fmt.Errorf("%w: the flow has no state (it was not made by InitiateAuthCodeFlow)", ErrInvalidOption)
	}
	got, err := single(response, "state")
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrStateMismatch, err)
	}
	if got == "" {
		return "", fmt.Errorf("%w: the response has no state", ErrStateMismatch)
	}
	if subtle.ConstantTimeCompare([]byte(got), []byte(state)) != 1 {
		return "", ErrStateMismatch
	}
	if code, _ := single(response, "error"); code != "" || len(response["error"]) > 1 {
		e := &Error{
			Code:        cleanField(response.Get("error")),
			Description: cleanField(response.Get("error_description")),
			Suberror:    cleanField(response.Get("suberror")),
			Claims:      cleanField(response.Get("claims")),
		}
		if e.Claims != "" {
			if _, err := mergeClaims("", e.Claims); err != nil {
				e.Claims = ""
			}
		}
		if id := response.Get("correlation_id"); id != "" {
			e.CorrelationID = cleanField(id)
		}
		if id := response.Get("trace_id"); id != "" {
			e.TraceID = cleanField(id)
		}
		return "", e
	}
	code, err := single(response, "code")
	if err != nil {
		return "", err
	}
	if code == "" {
		return "", fmt.Errorf("%w: it carries neither a code nor an error", ErrInvalidAuthResponse)
	}
	return code, nil
}

// flowAuthority returns the authority a flow's code is redeemed at: the
// flow's, which must be of the application's kind and on its host (a
// flow read back from a session cannot send the code, and the client's
// credential, anywhere else), or the application's.
func (u users) flowAuthority(f AuthCodeFlow) (authority, error) {
	if f.Authority == "" {
		return u.authority, nil
	}
	a, err := parseAuthority(f.Authority, u.cfg.oidcAuthority)
	if err != nil {
		return authority{}, err
	}
	if a.kind != u.authority.kind || a.scheme != u.authority.scheme || a.host != u.authority.host {
		return authority{}, fmt.Errorf("%w: the flow's authority %s is not on the application's authority host %s",
			ErrInvalidAuthority, a, u.authority.scheme+"://"+u.authority.host)
	}
	return a, nil
}

// acquireByAuthCodeFlow is AcquireTokenByAuthCodeFlow.
func (u users) acquireByAuthCodeFlow(ctx context.Context, f AuthCodeFlow, response url.Values, opts []CallOption) (Result, error) {
	start := time.Now()
	cc, err := newCallConfigFor("AcquireTokenByAuthCodeFlow", optClaims, opts...)
	if err != nil {
		return Result{}, err
	}
	code, err := authResponse(f.State, response)
	if err != nil {
		u.log.debug(ctx, "flow: auth code flow: response refused", slog.String("error", err.Error()))
		return Result{}, err
	}
	a, err := u.flowAuthority(f)
	if err != nil {
		return Result{}, err
	}
	claims := f.Claims
	if cc.claims != "" {
		if claims, err = mergeClaims(claims, cc.claims); err != nil {
			return Result{}, err
		}
	}
	chk := idTokenCheck{nonce: f.Nonce}
	if f.MaxAge != nil {
		if *f.MaxAge < 0 {
			return Result{}, fmt.Errorf("%w: the flow's max_age is negative", ErrInvalidOption)
		}
		chk.maxAge, chk.hasMaxAge = time.Duration(*f.MaxAge)*time.Second, true
	}
	return u.redeemCode(ctx, a, code, f.RedirectURI, f.CodeVerifier, f.Scopes, claims, chk, "auth code flow", start)
}

// redeemCode redeems an authorization code at a (one attempt: a code is
// good once) and finishes the response.
func (u users) redeemCode(ctx context.Context, a authority, code, redirectURI, verifier string, scopes []string, claims string, chk idTokenCheck, what string, start time.Time) (Result, error) {
	ep, err := u.endpointsOf(ctx, a)
	if err != nil {
		return Result{}, err
	}
	merged, err := u.claimsFor(claims)
	if err != nil {
		return Result{}, err
	}
	userScopes := oauth.UserScopes(scopes, u.cfg.excludeScopes)
	u.log.debug(ctx, "flow: "+what+": redeeming the authorization code",
		slog.Any("scopes", userScopes), slog.String("authority", a.String()), slog.Bool("pkce", verifier != ""))
	tok, err := u.redeem(ctx, tokenRequest{
		endpoints: ep,
		form:      oauth.AuthCodeForm(u.clientID, userScopes, code, redirectURI, verifier, merged),
		cred:      u.cred,
		noRetry:   true,
	})
	if err != nil {
		return Result{}, err
	}
	return u.finish(ctx, tok, userResponse{ep: ep, scopes: withoutReserved(oauth.AppScopes(scopes)), check: chk, needIDToken: chk.nonce != "", what: what}, start)
}

// authorizationRequestURL is AuthorizationRequestURL.
func (u users) authorizationRequestURL(ctx context.Context, scopes []string, redirectURI string, opts []CallOption) (string, error) {
	cc, err := newCallConfigFor("AuthorizationRequestURL", usedBySignInURL|optNonce|optPKCE, opts...)
	if err != nil {
		return "", err
	}
	if err := checkRedirectURI(redirectURI); err != nil {
		return "", err
	}
	if cc.pkce != "" {
		if err := checkVerifier(cc.pkce); err != nil {
			return "", err
		}
	}
	a, err := u.authorityFor(cc)
	if err != nil {
		return "", err
	}
	return u.authorizationURL(ctx, a, signInRequest{
		scopes: oauth.AppScopes(scopes), redirectURI: redirectURI, state: cc.state, nonce: cc.nonce, verifier: cc.pkce, cc: cc,
	})
}

// acquireByAuthorizationCode is AcquireTokenByAuthorizationCode.
func (u users) acquireByAuthorizationCode(ctx context.Context, code, redirectURI string, scopes []string, opts []CallOption) (Result, error) {
	start := time.Now()
	cc, err := newCallConfigFor("AcquireTokenByAuthorizationCode", usedByAcquire|optNonce|optPKCE|optMaxAge, opts...)
	if err != nil {
		return Result{}, err
	}
	if strings.TrimSpace(code) == "" {
		return Result{}, fmt.Errorf("%w: the authorization code is empty", ErrInvalidOption)
	}
	if cc.pkce != "" {
		if err := checkVerifier(cc.pkce); err != nil {
			return Result{}, err
		}
	}
	a, err := u.authorityFor(cc)
	if err != nil {
		return Result{}, err
	}
	chk := idTokenCheck{nonce: cc.nonce, maxAge: cc.maxAge, hasMaxAge: cc.hasMaxAge}
	return u.redeemCode(ctx, a, code, redirectURI, cc.pkce, scopes, cc.claims, chk, "authorization code", start)
}
