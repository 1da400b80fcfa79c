package authtest

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Grant types the token endpoint serves.
const (
	grantClientCredentials = "client_credentials"
	grantAuthorizationCode = "authorization_code"
	grantRefreshToken      = "refresh_token"
	grantPassword          = "password"
	grantDeviceCode        = "urn:ietf:params:oauth:grant-type:device_code"
	// grantDeviceCodeShort is the grant type MSAL Go (v1.10.1,
	// apps/internal/oauth/ops/internal/grant/grant.go) sends for the
	// device code grant; Entra accepts it beside RFC 8628's URN (MSAL Go's
	// device code flow, and azidentity's DeviceCodeCredential on it, work
	// against Entra). The other authority shapes take the URN only.
	grantDeviceCodeShort = "device_code"
	grantJWTBearer       = "urn:ietf:params:oauth:grant-type:jwt-bearer"
)

// refreshGrant is the server's state of a refresh token.
type refreshGrant struct {
	clientID, familyID string
	username           string
	tid                string
	issuedAt, expires  time.Time
	used               bool
	seq                uint64
	authTime           time.Time
	acr                string
	amr                []string
	jkt                string // the DPoP key a public client's refresh token is bound to
}

// serveToken is the token endpoint.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request, a *authority) {
	fail := func(e *oauthError) { s.writeOAuthError(w, r, a.kind, e) }
	if r.Method != http.MethodPost {
		fail(oerr("invalid_request", 900561, "The endpoint only accepts POST, OPTIONS requests. Received a %s request.", r.Method))
		return
	}
	if formError(r) != nil {
		fail(oerr("invalid_request", 90023, "The request body is not a valid application/x-www-form-urlencoded form of at most %d bytes.", maxFormSize))
		return
	}
	form := r.PostForm
	grant := form.Get("grant_type")
	if grant == "" {
		fail(errMissingParam("grant_type"))
		return
	}
	if grant == grantDeviceCodeShort && a.kind == kindEntra {
		grant = grantDeviceCode
	}
	serveGrant, ok := grantHandlers[grant]
	if !ok {
		if len(grant) > 100 {
			grant = grant[:100] + "..."
		}
		fail(oerr("unsupported_grant_type", 70003, "The app requested an unsupported grant type '%s'.", grant))
		return
	}
	if _, regional := regionalHost(hostOnly(r.Host)); regional && s.isTLS() && grant != grantClientCredentials {
		fail(oerr("invalid_request", 100007, "Microsoft Entra Regional ONLY supports auth either for MSIs OR for requests from MSAL using SN+I for 1P apps or 3P apps in Microsoft infrastructure tenants. (authtest: a regional host serves client credentials only; grant_type %s goes to the global host.)", grant))
		return
	}
	jkt, e := s.tokenDPoP(w, r, a)
	if e != nil {
		fail(e)
		return
	}
	c, e := s.authenticateClient(r, a, form)
	if e != nil {
		fail(e)
		return
	}
	claims, e := parseClaimsParam(form.Get("claims"))
	if e != nil {
		fail(e)
		return
	}
	claims.jkt = jkt
	if e := serveGrant(s, w, r, a, c, form, claims); e != nil {
		fail(e)
	}
}

// grantHandlers answer the grant types the token endpoint serves, after
// the client authenticated.
var grantHandlers = map[string]func(s *Server, w http.ResponseWriter, r *http.Request, a *authority, c *authenticatedClient, form url.Values, rc requestedClaims) *oauthError{
	grantClientCredentials: (*Server).grantClientCredentials,
	grantPassword:          (*Server).grantPassword,
	grantRefreshToken:      (*Server).grantRefreshToken,
	grantAuthorizationCode: (*Server).grantAuthorizationCode,
	grantDeviceCode:        (*Server).grantDeviceCode,
	grantJWTBearer:         (*Server).grantOnBehalfOf,
}

// requestedClaims is what a claims request parameter asks of the access
// token.
type requestedClaims struct {
	caps []string // access_token.xms_cc.values
	acrs []string // access_token.acrs.value(s)
	nbf  int64    // access_token.nbf.value
	jkt  string   // not a claims request: the DPoP key tokens are bound to (cnf.jkt)
}

// parseClaimsParam reads the claims parameter (OpenID Connect Core
// section 5.5): a JSON object whose access_token member may ask for
// xms_cc (client capabilities), acrs (authentication contexts) and nbf.
func parseClaimsParam(s string) (requestedClaims, *oauthError) {
	var rc requestedClaims
	if s == "" {
		return rc, nil
	}
	var doc map[string]json.RawMessage
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	if err := d.Decode(&doc); err != nil || doc == nil {
		return rc, oerr("invalid_request", 90100, "The claims parameter is not a JSON object.")
	}
	raw, ok := doc["access_token"]
	if !ok {
		return rc, nil
	}
	var at map[string]struct {
		Essential bool  `json:"essential"`
		Value     any   `json:"value"`
		Values    []any `json:"values"`
	}
	if err := json.Unmarshal(raw, &at); err != nil {
		return rc, oerr("invalid_request", 90100, "The claims parameter's access_token member is not an object of claim requests.")
	}
	strs := func(v any, vs []any) []string {
		var out []string
		if v != nil {
			out = append(out, fmt.Sprint(v))
		}
		for _, e := range vs {
			out = append(out, fmt.Sprint(e))
		}
		return out
	}
	if c, ok := at["xms_cc"]; ok {
		rc.caps = strs(c.Value, c.Values)
	}
	if c, ok := at["acrs"]; ok {
		rc.acrs = strs(c.Value, c.Values)
	}
	if c, ok := at["nbf"]; ok {
		fmt.Sscan(fmt.Sprint(c.Value), &rc.nbf)
	}
	return rc, nil
}

func (s *Server) grantClientCredentials(w http.ResponseWriter, r *http.Request, a *authority, c *authenticatedClient, form url.Values, rc requestedClaims) *oauthError {
	if c.Public {
		return oerr("invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
	}
	if a.kind == kindEntra && isMultiTenant(a.tenant) {
		return oerr("invalid_request", 50059, "No tenant-identifying information found in either the request or implied by any provided credentials.")
	}
	scope := form.Get("scope")
	if scope == "" {
		return errMissingParam("scope")
	}
	// Entra ignores the OpenID Connect scopes here (MSAL Go sends
	// "openid offline_access profile" with every request, client
	// credentials included): only the resource's /.default counts.
	var fields []string
	for _, f := range strings.Fields(scope) {
		switch strings.ToLower(f) {
		case "openid", "offline_access", "profile":
		default:
			fields = append(fields, f)
		}
	}
	if len(fields) != 1 || !strings.HasSuffix(strings.ToLower(fields[0]), "/.default") {
		return oerr("invalid_scope", 1002012, "The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", scope)
	}
	q, e := s.parseScopes(fields[0], a.tid)
	if e != nil {
		return e
	}
	var roles []string
	for _, role := range q.api.Roles {
		if c.Roles == nil || containsFold(c.Roles, role) {
			roles = append(roles, role)
		}
	}
	lifetime := s.cfg.tokenLifetime
	tok, err := s.mintAccessToken(tokenSpec{
		aud: q.api.Audience, issuer: s.accessTokenIssuerFor(r, a, a.tid), tid: tidClaim(a),
		clientID: c.ID, azpacr: c.azpacr, appOID: c.ObjectID, roles: roles,
		caps: rc.caps, acrs: rc.acrs, iat: s.Now(), lifetime: lifetime, kind: a.kind, policy: a.policy, jkt: rc.jkt,
	})
	if err != nil {
		return oerr("server_error", 50000, "There was an error issuing a token: %v", err)
	}
	writeJSON(w, http.StatusOK, s.newTokenResponse(tok, lifetime).boundTo(rc.jkt))
	return nil
}

// tidClaim is the tid of tokens issued through a: none for AD FS and
// plain OIDC.
func tidClaim(a *authority) string {
	if a.kind == kindADFS || a.kind == kindOIDC {
		return ""
	}
	return a.tid
}

// userGrant is what a delegated token response is made of.
type userGrant struct {
	user        *User
	tid         string
	scopes      *scopeRequest
	nonce       string
	authTime    time.Time
	acr         string
	amr         []string
	claims      requestedClaims
	interactive bool // the user was present (consent given)
}

// userTenant returns the tenant ID a user's token is issued in: the
// tenant the path names, or the user's home tenant for common and
// organizations. The user must be a member (or guest) of it.
func (s *Server) userTenant(a *authority, u *User) (string, *oauthError) {
	switch a.kind {
	case kindADFS, kindOIDC:
		return "", nil
	case kindB2C:
		return a.tid, nil
	}
	tid := a.tid
	if tid == tenantCommon || tid == tenantOrganizations {
		tid = u.TenantID
	}
	if !u.memberOf(tid) {
		return "", oerr("invalid_grant", 50034, "The user account {EUII Hidden} does not exist in the %s directory. To sign into this application, the account must be added to the directory.", tid)
	}
	return tid, nil
}

func consentKey(clientID, subject string) string {
	return strings.ToLower(clientID) + "|" + strings.ToLower(subject)
}

// hasConsent reports whether u consented to c, or an admin did for u's
// tenant tid.
func (s *Server) hasConsent(c *Client, u *User, tid string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.consents[consentKey(c.ID, u.ObjectID)] || s.consents[consentKey(c.ID, tid)]
}

func (s *Server) recordConsent(clientID, subject string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.consents[consentKey(clientID, subject)] = true
}

// issueUserTokens answers a delegated grant: an access token for the
// scopes' API, a refresh token when offline_access was asked for (always
// for the refresh token grant), an ID token when openid was, and
// client_info when the request asked with client_info=1.
func (s *Server) issueUserTokens(w http.ResponseWriter, r *http.Request, a *authority, c *authenticatedClient, form url.Values, g userGrant, alwaysRefresh bool) *oauthError {
	if c.RequireConsent {
		if g.interactive {
			s.recordConsent(c.ID, g.user.ObjectID)
		} else if !s.hasConsent(c.Client, g.user, g.tid) {
			return oerr("invalid_grant", 65001, "The user or administrator has not consented to use the application with ID '%s' named '%s'. Send an interactive authorization request for this user and resource.", c.ID, c.Name).withSuberror("consent_required")
		}
	}
	q := g.scopes
	api := q.api
	scp := q.names
	if api == nil {
		s.mu.Lock()
		api = s.apis[GraphAudience]
		s.mu.Unlock()
		if api == nil {
			return oerr("invalid_scope", 70011, "The provided value for the input parameter 'scope' is not valid: it names no resource.")
		}
		for _, n := range []string{"openid", "profile", "email"} {
			if (n == "openid" && q.openid) || (n == "profile" && q.profile) || (n == "email" && q.email) {
				scp = append(scp, n)
			}
		}
	}
	now := s.Now()
	lifetime := s.cfg.tokenLifetime
	issuer := s.issuerFor(r, a, g.tid) // the ID token's
	tok, err := s.mintAccessToken(tokenSpec{
		aud: api.Audience, issuer: s.accessTokenIssuerFor(r, a, g.tid), tid: g.tid, clientID: c.ID, azpacr: c.azpacr,
		user: g.user, scp: scp, caps: g.claims.caps, acrs: g.claims.acrs, acr: g.acr, amr: g.amr,
		authTime: g.authTime, iat: now, lifetime: lifetime, kind: a.kind, policy: a.policy, jkt: g.claims.jkt,
	})
	if err != nil {
		return oerr("server_error", 50000, "There was an error issuing a token: %v", err)
	}
	tr := s.newTokenResponse(tok, lifetime).boundTo(g.claims.jkt)
	if q.api == nil { // only OpenID scopes: a Graph token (responseScope needs an API)
		tr.Scope = strings.Join(scp, " ")
	} else {
		tr.Scope = q.responseScope()
	}
	if q.offline || alwaysRefresh {
		rt := randToken(48)
		s.mu.Lock()
		s.seq++
		s.refreshTokens[rt] = &refreshGrant{
			seq:      s.seq,
			clientID: c.ID, familyID: c.FamilyID, username: strings.ToLower(g.user.Username), tid: g.tid,
			issuedAt: now, expires: now.Add(s.cfg.refreshLifetime),
			authTime: g.authTime, acr: g.acr, amr: g.amr, jkt: publicBinding(c, g.claims.jkt),
		}
		s.mu.Unlock()
		tr.RefreshToken = rt
	}
	if q.openid {
		idt, err := s.mintIDToken(idTokenSpec{
			issuer: issuer, tid: g.tid, clientID: c.ID, nonce: g.nonce, user: g.user,
			authTime: g.authTime, acr: g.acr, amr: g.amr, email: q.email, kind: a.kind, policy: a.policy,
		})
		if err != nil {
			return oerr("server_error", 50000, "There was an error issuing a token: %v", err)
		}
		tr.IDToken = idt
	}
	if form.Get("client_info") == "1" && a.kind != kindADFS && a.kind != kindOIDC {
		tr.ClientInfo = clientInfo(g.user.ObjectID, g.user.TenantID)
	}
	if c.FamilyID != "" {
		tr.Foci = c.FamilyID
	}
	writeJSON(w, http.StatusOK, tr)
	return nil
}

func (s *Server) grantPassword(w http.ResponseWriter, r *http.Request, a *authority, c *authenticatedClient, form url.Values, rc requestedClaims) *oauthError {
	if a.kind == kindEntra && (strings.EqualFold(a.tenant, tenantCommon) || strings.EqualFold(a.tenant, tenantConsumers)) {
		return oerr("invalid_request", 9001023, "The grant type is not supported over the /common or /consumers endpoints. Please use the /organizations or tenant-specific endpoint.")
	}
	for _, p := range []string{"username", "password", "scope"} {
		if form.Get(p) == "" {
			return errMissingParam(p)
		}
	}
	s.mu.Lock()
	u := s.userLocked(form.Get("username"))
	s.mu.Unlock()
	dir := a.tid
	if dir == "" {
		dir = a.tenant
	}
	if u == nil {
		return oerr("invalid_grant", 50034, "The user account {EUII Hidden} does not exist in the %s directory. To sign into this application, the account must be added to the directory.", dir)
	}
	tid, e := s.userTenant(a, u)
	if e != nil {
		return e
	}
	if !u.passwordIs(form.Get("password")) {
		return oerr("invalid_grant", 50126, "Error validating credentials due to invalid username or password.")
	}
	q, e := s.parseScopes(form.Get("scope"), tid)
	if e != nil {
		return e
	}
	if u.MFA {
		return oerr("invalid_grant", 50076, "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '%s'.", resourceAppID(q)).withSuberror("basic_action")
	}
	now := s.Now()
	return s.issueUserTokens(w, r, a, c, form, userGrant{
		user: u, tid: tid, scopes: q, authTime: now, acr: u.ACR, amr: []string{"pwd"}, claims: rc,
	}, false)
}

func resourceAppID(q *scopeRequest) string {
	if q.api == nil {
		return GraphAppID
	}
	return q.api.AppID
}

func (s *Server) grantRefreshToken(w http.ResponseWriter, r *http.Request, a *authority, c *authenticatedClient, form url.Values, rc requestedClaims) *oauthError {
	rt := form.Get("refresh_token")
	if rt == "" {
		return errMissingParam("refresh_token")
	}
	if form.Get("scope") == "" {
		return errMissingParam("scope")
	}
	now := s.Now()
	s.mu.Lock()
	live := s.refreshTokens[rt]
	var g *refreshGrant // a snapshot: live.used changes under s.mu
	var u *User
	var revokedAt time.Time
	if live != nil {
		snap := *live
		g = &snap
		u = s.users[g.username]
		if u != nil {
			revokedAt = revokedSince(s.rtRevocations, issue{at: g.issuedAt, seq: g.seq}, u.ObjectID, u.Username, g.clientID)
		}
	}
	s.mu.Unlock()
	switch {
	case g == nil:
		return oerr("invalid_grant", 9002313, "Invalid request. Request is malformed or invalid: the refresh token is not one this server issued.")
	case g.clientID != c.ID && (g.familyID == "" || g.familyID != c.FamilyID):
		return oerr("invalid_grant", 70000, "The provided value for the 'refresh_token' parameter is not valid: the refresh token was issued to a different client.")
	case u == nil:
		return oerr("invalid_grant", 50034, "The user account {EUII Hidden} does not exist in the %s directory. To sign into this application, the account must be added to the directory.", g.tid)
	case !revokedAt.IsZero():
		return oerr("invalid_grant", 50173, "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password. The grant was issued on '%s' and the TokensValidFrom date (before which tokens are not valid) for this user is '%s'.",
			g.issuedAt.UTC().Format(time.RFC3339), revokedAt.UTC().Format(time.RFC3339))
	case !now.Before(g.expires):
		return oerr("invalid_grant", 700082, "The refresh token has expired due to inactivity. The token was issued on %s and was inactive for %s.",
			g.issuedAt.UTC().Format(time.RFC3339), now.Sub(g.issuedAt).Round(time.Second))
	case g.jkt != "" && g.jkt != rc.jkt:
		return oerr("invalid_grant", 0, "The refresh token is bound to a DPoP key (RFC 9449 section 5): redeem it with a DPoP proof of that key.")
	case g.used && c.StrictRotation:
		return oerr("invalid_grant", 70000, "The provided value for the 'refresh_token' parameter is not valid: the refresh token was already redeemed and this client's refresh tokens are single-use.")
	}
	var tid string
	var e *oauthError
	if a.kind == kindEntra && (a.tid == tenantCommon || a.tid == tenantOrganizations) {
		tid = g.tid
	} else if tid, e = s.userTenant(a, u); e != nil {
		return e
	}
	q, e := s.parseScopes(form.Get("scope"), tid)
	if e != nil {
		return e
	}
	s.mu.Lock()
	if live.used && c.StrictRotation { // lost a race with a concurrent redemption
		s.mu.Unlock()
		return oerr("invalid_grant", 70000, "The provided value for the 'refresh_token' parameter is not valid: the refresh token was already redeemed and this client's refresh tokens are single-use.")
	}
	live.used = true
	s.mu.Unlock()
	return s.issueUserTokens(w, r, a, c, form, userGrant{
		user: u, tid: tid, scopes: q, authTime: g.authTime, acr: g.acr, amr: g.amr, claims: rc,
	}, true)
}

// revocation makes tokens issued before it (for subject, or for everyone
// when subject is empty) invalid.
type revocation struct {
	subject string
	at      time.Time
	seq     uint64
}

// revokedSince returns the time of the latest revocation that hits a
// token issued at issued for one of subjects, or the zero time. Issuances
// known to the server compare by order (seq); others by time.
func revokedSince(revs []revocation, issued issue, subjects ...string) time.Time {
	var at time.Time
	for _, rv := range revs {
		if issued.seq != 0 && issued.seq > rv.seq {
			continue
		}
		if issued.seq == 0 && !issued.at.Before(rv.at) {
			continue
		}
		if rv.subject == "" || containsFold(subjects, rv.subject) {
			if rv.at.After(at) {
				at = rv.at
			}
		}
	}
	return at
}

// RevokeRefreshTokens makes the refresh tokens issued before this call to
// the given users (usernames or object IDs) or clients
// (client IDs) fail with invalid_grant AADSTS50173, as after a password
// reset or an admin's "revoke sessions"; with no arguments, every refresh
// token issued before the call. Access tokens are not affected: see
// [Server.Revoke].
func (s *Server) RevokeRefreshTokens(subjects ...string) { s.revoke(&s.rtRevocations, subjects) }

// revoke appends to list, under s.mu, a revocation of subjects (of
// everyone when there are none) at the current time and in the order of
// issuances.
func (s *Server) revoke(list *[]revocation, subjects []string) {
	now := s.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	if len(subjects) == 0 {
		*list = append(*list, revocation{at: now, seq: s.seq})
	}
	for _, sub := range subjects {
		*list = append(*list, revocation{subject: sub, at: now, seq: s.seq})
	}
}

// authCode is the server's state of an authorization code.
type authCode struct {
	clientID, redirectURI string
	username              string
	tenant                string // as the authorize request's path named it
	tid                   string
	nonce                 string
	challenge, method     string
	claims                requestedClaims
	authTime              time.Time
	acr                   string
	amr                   []string
	expires               time.Time
	used                  bool
}

func (s *Server) grantAuthorizationCode(w http.ResponseWriter, r *http.Request, a *authority, c *authenticatedClient, form url.Values, rc requestedClaims) *oauthError {
	for _, p := range []string{"code", "redirect_uri"} {
		if form.Get(p) == "" {
			return errMissingParam(p)
		}
	}
	if form.Get("scope") == "" {
		return oerr("invalid_scope", 28003, "Provided value for the input parameter scope cannot be empty when requesting an access token using the provided authorization code. Please specify a valid scope.")
	}
	now := s.Now()
	s.mu.Lock()
	live := s.codes[form.Get("code")]
	var code *authCode // a snapshot: live.used changes under s.mu
	var u *User
	if live != nil {
		snap := *live
		code = &snap
		u = s.users[code.username]
	}
	s.mu.Unlock()
	switch {
	case code == nil:
		return oerr("invalid_grant", 9002313, "Invalid request. Request is malformed or invalid: the authorization code is not one this server issued.")
	case code.used:
		return oerr("invalid_grant", 54005, "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.")
	case !now.Before(code.expires):
		return oerr("invalid_grant", 70008, "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.")
	case code.clientID != c.ID:
		return oerr("invalid_grant", 70000, "The provided value for the 'code' parameter is not valid: the code was issued to a different client.")
	case !sameTenant(code.tenant, code.tid, a):
		return oerr("invalid_grant", 700005, "Provided Authorization Code is intended to use against other tenant, thus rejected.")
	case code.redirectURI != form.Get("redirect_uri"):
		return oerr("invalid_grant", 70000, "The provided value for the 'redirect_uri' parameter is not valid: it differs from the redirect_uri of the authorization request.")
	case u == nil:
		return oerr("invalid_grant", 50034, "The user account {EUII Hidden} does not exist in the %s directory. To sign into this application, the account must be added to the directory.", code.tid)
	}
	if code.challenge != "" {
		v := form.Get("code_verifier")
		if v == "" {
			return oerr("invalid_grant", 50148, "The code_verifier does not match the code_challenge supplied in the authorization request for PKCE: the request has no code_verifier.")
		}
		if !pkceMatches(code.method, code.challenge, v) {
			return oerr("invalid_grant", 501481, "The Code_Verifier does not match the code_challenge supplied in the authorization request.")
		}
	}
	q, e := s.parseScopes(form.Get("scope"), code.tid)
	if e != nil {
		return e
	}
	s.mu.Lock()
	if live.used { // lost a race with a concurrent redemption
		s.mu.Unlock()
		return oerr("invalid_grant", 54005, "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.")
	}
	live.used = true
	s.mu.Unlock()
	claims := code.claims
	claims.caps = mergeLists(claims.caps, rc.caps)
	claims.acrs = mergeLists(claims.acrs, rc.acrs)
	claims.jkt = rc.jkt
	return s.issueUserTokens(w, r, a, c, form, userGrant{
		user: u, tid: code.tid, scopes: q, nonce: code.nonce, authTime: code.authTime,
		acr: code.acr, amr: code.amr, claims: claims, interactive: true,
	}, false)
}

func mergeLists(a, b []string) []string {
	out := slices.Clone(a)
	for _, e := range b {
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out
}

// sameTenant reports whether a code issued through tenant (resolved to
// tid) may be redeemed through a: the same alias (common, organizations,
// consumers) or the same tenant ID.
func sameTenant(tenant, tid string, a *authority) bool {
	if a.kind != kindEntra {
		return true
	}
	if isMultiTenant(tenant) || isMultiTenant(a.tenant) {
		return strings.EqualFold(tenant, a.tenant)
	}
	return strings.EqualFold(tid, a.tid)
}

// pkceMatches checks a code_verifier against its challenge (RFC 7636).
func pkceMatches(method, challenge, verifier string) bool {
	switch method {
	case "", "plain":
		return subtle.ConstantTimeCompare([]byte(challenge), []byte(verifier)) == 1
	case "S256":
		h := sha256.Sum256([]byte(verifier))
		return subtle.ConstantTimeCompare([]byte(challenge), []byte(b64.EncodeToString(h[:]))) == 1
	}
	return false
}

func (s *Server) grantOnBehalfOf(w http.ResponseWriter, r *http.Request, a *authority, c *authenticatedClient, form url.Values, rc requestedClaims) *oauthError {
	use := form.Get("requested_token_use")
	if use == "" {
		return errMissingParam("requested_token_use")
	}
	if use != "on_behalf_of" {
		return oerr("invalid_request", 90023, "The requested_token_use '%s' is not supported; it must be on_behalf_of.", use)
	}
	assertion := form.Get("assertion")
	if assertion == "" {
		return errMissingParam("assertion")
	}
	if form.Get("scope") == "" {
		return errMissingParam("scope")
	}
	if c.Public {
		return oerr("invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
	}
	t, err := s.verifyOwnToken(assertion)
	if err != nil {
		if errors.Is(err, ErrTokenMalformed) {
			return oerr("invalid_grant", 50027, "JWT token is invalid or malformed.")
		}
		return oerr("invalid_grant", 50013, "Assertion failed signature validation.")
	}
	now := s.Now()
	if exp, ok := t.num("exp"); !ok || now.Unix() >= exp {
		return oerr("invalid_grant", 500133, "Assertion is not within its valid time range. Ensure that the access token is not expired before using it for user assertion, or request a new token. Current time: %s, expiry time of assertion %s.",
			now.UTC().Format(time.RFC3339), time.Unix(exp, 0).UTC().Format(time.RFC3339))
	}
	want := []string{c.ID, "api://" + c.ID}
	s.mu.Lock()
	for _, api := range s.apis {
		if strings.EqualFold(api.AppID, c.ID) {
			want = append(want, api.Audience)
		}
	}
	s.mu.Unlock()
	aud := t.str("aud")
	if !containsFold(want, aud) {
		return oerr("invalid_grant", 50013, "Assertion audience does not match the Client app presenting the assertion. The audience in the assertion was '%s' and the expected audience is '%s' or one of the Application Uris of this application with App ID '%s'.", aud, c.ID, c.ID)
	}
	if t.str("idtyp") == "app" || t.claims["scp"] == nil {
		return oerr("invalid_grant", 50013, "Assertion is invalid: it is an app-only token; on-behalf-of needs a token issued for a user.")
	}
	oid := t.str("oid")
	s.mu.Lock()
	u := s.userLocked(oid)
	s.mu.Unlock()
	if u == nil {
		tid := t.str("tid")
		if tid == "" {
			tid = DefaultTenant
		}
		u = &User{Username: t.str("preferred_username"), ObjectID: oid, TenantID: tid, DisplayName: t.str("name"), ACR: "1"}
	}
	tid := t.str("tid")
	if a.kind == kindEntra && !isMultiTenant(a.tenant) {
		tid = a.tid
		if !u.memberOf(tid) {
			return oerr("invalid_grant", 50034, "The user account {EUII Hidden} does not exist in the %s directory. To sign into this application, the account must be added to the directory.", tid)
		}
	}
	q, e := s.parseScopes(form.Get("scope"), tid)
	if e != nil {
		return e
	}
	authTime := now
	if at, ok := t.num("auth_time"); ok {
		authTime = time.Unix(at, 0)
	}
	acr := t.str("acr")
	if acr == "" {
		acr = u.ACR
	}
	amr := claimStrings(t.claims, "amr")
	return s.issueUserTokens(w, r, a, c, form, userGrant{
		user: u, tid: tid, scopes: q, authTime: authTime, acr: acr, amr: amr, claims: rc,
	}, false)
}
