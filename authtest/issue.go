package authtest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"time"
)

// AccessTokenSpec describes an access token for [Server.IssueAccessToken].
// Zero fields take the defaults given.
type AccessTokenSpec struct {
	// Audience is the token's aud; default [GraphAudience].
	Audience string
	// Scopes are the delegated scopes (scp). A token with a Subject and
	// no Scopes gets no scp claim.
	Scopes []string
	// Roles are the app roles (roles).
	Roles []string
	// Subject is the username or object ID of the user the token is for;
	// a registered user gives their object ID, name and home tenant, any
	// other value is used as the object ID. Empty makes an app-only token
	// (idtyp app) for ClientID.
	Subject string
	// ClientID is the client the token was issued to (azp, appid);
	// default "authtest-client".
	ClientID string
	// Tenant is the tenant (an ID or a domain); default the user's home
	// tenant, or [DefaultTenant] for app-only tokens.
	Tenant string
	// Lifetime is how long the token lives; default the server's token
	// lifetime (see [WithTokenLifetime]).
	Lifetime time.Duration
	// IssuedAt is the token's iat and nbf; default [Server.Now].
	IssuedAt time.Time
	// ACR is the acr claim of a user token; default the user's ACR or "1".
	ACR string
	// AuthTime is the auth_time of a user token; default IssuedAt.
	AuthTime time.Time
	// ACRS are authentication context IDs (acrs), such as "c1".
	ACRS []string
	// Capabilities are the client capabilities (xms_cc), such as "cp1".
	Capabilities []string
	// Claims are more claims; they override the ones above.
	Claims map[string]any
}

// tokenSpec is what the server needs to mint an access token.
type tokenSpec struct {
	aud      string
	issuer   string
	tid      string // "" for ADFS and OIDC
	clientID string
	azpacr   string
	user     *User // nil for app-only tokens
	appOID   string
	scp      []string
	roles    []string
	caps     []string
	acrs     []string
	acr      string
	amr      []string
	authTime time.Time
	iat      time.Time
	lifetime time.Duration
	kind     authorityKind
	policy   string
	jkt      string // the DPoP key the token is bound to (cnf.jkt), if any
	extra    map[string]any
}

// randToken returns n random bytes, base64url encoded: the opaque
// refresh tokens, codes and device codes.
func randToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b64.EncodeToString(b)
}

// pairwiseSub is a user's sub for one client, as Entra makes it: stable,
// and different for each client.
func pairwiseSub(oid, clientID string) string {
	h := sha256.Sum256([]byte(strings.ToLower(oid) + "|" + strings.ToLower(clientID)))
	return b64.EncodeToString(h[:])[:43]
}

// currentKey returns the key tokens are signed with now.
func (s *Server) currentKey() (*signingKey, error) {
	s.mu.Lock()
	gen := s.keyGen
	s.mu.Unlock()
	return poolKey(gen)
}

// issue is when a token was issued: on the server clock, and in the
// order of the server's issuances and revocations, so that a token issued
// after a revocation passes even when the clock stands still.
type issue struct {
	at  time.Time
	seq uint64
	exp time.Time
}

// mintAccessToken signs an access token and remembers when it was issued.
func (s *Server) mintAccessToken(sp tokenSpec) (string, error) {
	key, err := s.currentKey()
	if err != nil {
		return "", err
	}
	uti := randToken(16)
	iat := sp.iat.Unix()
	claims := map[string]any{
		"aud":   sp.aud,
		"iss":   sp.issuer,
		"iat":   iat,
		"nbf":   iat,
		"exp":   sp.iat.Add(sp.lifetime).Unix(),
		"azp":   sp.clientID,
		"appid": sp.clientID,
		"uti":   uti,
		"ver":   "2.0",
	}
	if sp.azpacr != "" {
		claims["azpacr"] = sp.azpacr
		claims["appidacr"] = sp.azpacr
	}
	if sp.tid != "" {
		claims["tid"] = sp.tid
	}
	if sp.user != nil {
		claims["idtyp"] = "user"
		claims["oid"] = sp.user.ObjectID
		claims["sub"] = pairwiseSub(sp.user.ObjectID, sp.clientID)
		claims["name"] = sp.user.DisplayName
		claims["preferred_username"] = sp.user.Username
		claims["upn"] = sp.user.Username
		claims["unique_name"] = sp.user.Username
		claims["acr"] = sp.acr
		if len(sp.amr) > 0 {
			claims["amr"] = sp.amr
		}
		if !sp.authTime.IsZero() {
			claims["auth_time"] = sp.authTime.Unix()
		}
		if len(sp.scp) > 0 {
			claims["scp"] = strings.Join(sp.scp, " ")
		}
	} else {
		claims["idtyp"] = "app"
		claims["oid"] = sp.appOID
		claims["sub"] = sp.appOID
	}
	if len(sp.roles) > 0 {
		claims["roles"] = sp.roles
	}
	if len(sp.caps) > 0 {
		claims["xms_cc"] = sp.caps
	}
	if len(sp.acrs) > 0 {
		claims["acrs"] = sp.acrs
	}
	if sp.kind == kindB2C && sp.policy != "" {
		claims["tfp"] = sp.policy
	}
	if sp.jkt != "" {
		claims["cnf"] = map[string]any{"jkt": sp.jkt}
	}
	maps.Copy(claims, sp.extra)
	tok, err := signJWT(key, claims)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	s.seq++
	s.issued[uti] = issue{at: sp.iat, seq: s.seq, exp: sp.iat.Add(sp.lifetime)}
	if s.seq%1024 == 0 {
		s.pruneLocked(s.clock.now())
	}
	s.mu.Unlock()
	return tok, nil
}

// pruneLocked forgets state nothing can use any more: issue records of
// expired access tokens, expired refresh tokens, and codes and device
// codes expired an hour ago. It keeps a long-running server's memory
// bounded. s.mu must be held.
func (s *Server) pruneLocked(now time.Time) {
	for k, v := range s.issued {
		if now.After(v.exp) {
			delete(s.issued, k)
		}
	}
	for k, v := range s.refreshTokens {
		if now.After(v.expires) {
			delete(s.refreshTokens, k)
		}
	}
	grace := now.Add(-time.Hour)
	for k, v := range s.codes {
		if grace.After(v.expires) {
			delete(s.codes, k)
		}
	}
	for k, v := range s.devices {
		if grace.After(v.expires) {
			delete(s.devices, k)
			delete(s.userCodes, v.userCode)
		}
	}
}

// IssueAccessToken mints an access token signed by the server, as its
// token endpoint would issue it, without a token request: for tests of
// middle tiers and resources that validate tokens (against the server's
// JWKS) and for on-behalf-of assertions. It panics only if signing fails.
func (s *Server) IssueAccessToken(spec AccessTokenSpec) string {
	sp := tokenSpec{
		aud:      spec.Audience,
		clientID: spec.ClientID,
		scp:      spec.Scopes,
		roles:    spec.Roles,
		caps:     spec.Capabilities,
		acrs:     spec.ACRS,
		acr:      spec.ACR,
		amr:      []string{"pwd"},
		authTime: spec.AuthTime,
		iat:      spec.IssuedAt,
		lifetime: spec.Lifetime,
		extra:    spec.Claims,
	}
	if sp.aud == "" {
		sp.aud = GraphAudience
	}
	if sp.clientID == "" {
		sp.clientID = "authtest-client"
	}
	if sp.iat.IsZero() {
		sp.iat = s.Now()
	}
	if sp.lifetime == 0 {
		sp.lifetime = s.cfg.tokenLifetime
	}
	tenant := spec.Tenant
	if spec.Subject != "" {
		s.mu.Lock()
		u := s.userLocked(spec.Subject)
		s.mu.Unlock()
		if u == nil {
			u = &User{Username: spec.Subject, ObjectID: spec.Subject, TenantID: DefaultTenant, DisplayName: spec.Subject, ACR: "1"}
		}
		sp.user = u
		if tenant == "" {
			tenant = u.TenantID
		}
		if sp.acr == "" {
			sp.acr = u.ACR
		}
		if sp.authTime.IsZero() {
			sp.authTime = sp.iat
		}
	} else {
		s.mu.Lock()
		c := s.clientLocked(sp.clientID)
		s.mu.Unlock()
		if c != nil {
			sp.appOID = c.ObjectID
		} else {
			sp.appOID = derivedGUID("sp", sp.clientID)
		}
	}
	if tenant == "" {
		tenant = DefaultTenant
	}
	sp.tid = s.TenantID(tenant)
	sp.issuer = s.Issuer(sp.tid)
	tok, err := s.mintAccessToken(sp)
	if err != nil {
		panic(err)
	}
	return tok
}

// Errors [Server.Verify] wraps, saying which check failed.
var (
	// ErrTokenMalformed: the token is not a JWT.
	ErrTokenMalformed = errors.New("authtest: malformed token")
	// ErrTokenSignature: no current or previous signing key of the server
	// verifies the token.
	ErrTokenSignature = errors.New("authtest: token signature does not verify")
	// ErrTokenExpired: the token expired, or is not valid yet, on the
	// server's clock.
	ErrTokenExpired = errors.New("authtest: token expired")
)

// Verify checks that token is a JWT signed with the server's current or
// previous key (see [Server.RotateKeys]) and valid now on the server's
// clock (no skew allowed), and returns its claims (numbers as
// json.Number). It checks no audience.
func (s *Server) Verify(token string) (map[string]any, error) {
	t, err := s.verifyOwnToken(token)
	if err != nil {
		return nil, err
	}
	now := s.Now().Unix()
	exp, ok := t.num("exp")
	if !ok || now >= exp {
		return nil, fmt.Errorf("%w: exp %d, now %d", ErrTokenExpired, exp, now)
	}
	if nbf, ok := t.num("nbf"); ok && now < nbf {
		return nil, fmt.Errorf("%w: not valid before %d, now %d", ErrTokenExpired, nbf, now)
	}
	return t.claims, nil
}

// verifyOwnToken parses token and checks its signature against the
// current and previous signing keys.
func (s *Server) verifyOwnToken(token string) (*jwt, error) {
	t, err := parseJWT(token)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTokenMalformed, err)
	}
	if !s.signedByOwnKey(t) {
		return nil, ErrTokenSignature
	}
	return t, nil
}

// signedByOwnKey reports whether t is an RS256 JWT signed with the
// current or previous signing key (the one its kid names, if it names
// one).
func (s *Server) signedByOwnKey(t *jwt) bool {
	kid := t.headerString("kid")
	for _, k := range s.publishedKeys() {
		if (kid == "" || kid == k.kid) && t.verify(&k.priv.PublicKey, []string{"RS256"}) == nil {
			return true
		}
	}
	return false
}

// RotateKeys makes a new key the signing key. The previous key stays
// published in the JWKS and accepted by [Server.Verify] and the resource;
// the one before it is dropped, so tokens it signed stop verifying.
func (s *Server) RotateKeys() {
	s.mu.Lock()
	s.keyGen++
	gen := s.keyGen
	s.mu.Unlock()
	_, _ = poolKey(gen)
}

// publishedKeys returns the current and previous signing keys.
func (s *Server) publishedKeys() []*signingKey {
	s.mu.Lock()
	gen := s.keyGen
	s.mu.Unlock()
	var out []*signingKey
	for g := gen; g >= 0 && g >= gen-1; g-- {
		if k, err := poolKey(g); err == nil {
			out = append(out, k)
		}
	}
	return out
}

// tokenResponse is a successful token endpoint response.
type tokenResponse struct {
	TokenType    string `json:"token_type"`
	Scope        string `json:"scope,omitempty"`
	ExpiresIn    int64  `json:"expires_in"`
	ExtExpiresIn int64  `json:"ext_expires_in"`
	RefreshIn    int64  `json:"refresh_in,omitempty"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
	ClientInfo   string `json:"client_info,omitempty"`
	Foci         string `json:"foci,omitempty"`
}

// newTokenResponse is the token endpoint's answer for an access token of
// the given lifetime: refresh_in is [WithTokenRefreshIn]'s when set and
// shorter than the lifetime, else half the lifetime of tokens living two
// hours or more.
func (s *Server) newTokenResponse(token string, lifetime time.Duration) *tokenResponse {
	secs := int64(lifetime / time.Second)
	tr := &tokenResponse{TokenType: "Bearer", ExpiresIn: secs, ExtExpiresIn: secs, AccessToken: token}
	switch d := s.cfg.tokenRefreshIn; {
	case d > 0 && d < lifetime:
		tr.RefreshIn = max(int64(d/time.Second), 1)
	case lifetime >= 2*time.Hour:
		tr.RefreshIn = secs / 2
	}
	return tr
}

// clientInfo is the client_info Entra returns: base64url JSON of uid and
// utid.
func clientInfo(oid, tid string) string {
	b, _ := json.Marshal(map[string]string{"uid": oid, "utid": tid})
	return base64.RawURLEncoding.EncodeToString(b)
}

// idTokenSpec is what an ID token says.
type idTokenSpec struct {
	issuer, tid, clientID, nonce string
	user                         *User
	authTime                     time.Time
	acr                          string
	amr                          []string
	email                        bool
	kind                         authorityKind
	policy                       string
	iat                          time.Time      // default now
	lifetime                     time.Duration  // default an hour
	extra                        map[string]any // claims that override the others
}

func (s *Server) mintIDToken(sp idTokenSpec) (string, error) {
	key, err := s.currentKey()
	if err != nil {
		return "", err
	}
	now := sp.iat
	if now.IsZero() {
		now = s.Now()
	}
	lifetime := sp.lifetime
	if lifetime == 0 {
		lifetime = time.Hour
	}
	claims := map[string]any{
		"aud":                sp.clientID,
		"iss":                sp.issuer,
		"iat":                now.Unix(),
		"nbf":                now.Unix(),
		"exp":                now.Add(lifetime).Unix(),
		"name":               sp.user.DisplayName,
		"oid":                sp.user.ObjectID,
		"preferred_username": sp.user.Username,
		"sub":                pairwiseSub(sp.user.ObjectID, sp.clientID),
		"uti":                randToken(16),
		"ver":                "2.0",
		"acr":                sp.acr,
	}
	if sp.tid != "" {
		claims["tid"] = sp.tid
	}
	if sp.nonce != "" {
		claims["nonce"] = sp.nonce
	}
	if !sp.authTime.IsZero() {
		claims["auth_time"] = sp.authTime.Unix()
	}
	if len(sp.amr) > 0 {
		claims["amr"] = sp.amr
	}
	if sp.email {
		claims["email"] = sp.user.Username
	}
	if sp.kind == kindADFS {
		claims["upn"] = sp.user.Username
		claims["unique_name"] = sp.user.Username
	}
	if sp.kind == kindB2C && sp.policy != "" {
		claims["tfp"] = sp.policy
	}
	for k, v := range sp.extra {
		if v == nil {
			delete(claims, k)
			continue
		}
		claims[k] = v
	}
	return signJWT(key, claims)
}

// IDTokenSpec describes an ID token for [Server.IssueIDToken]. Zero
// fields take the defaults given.
type IDTokenSpec struct {
	// Subject is the username or object ID of the user the token is
	// about; a registered user gives their object ID, names and home
	// tenant, any other value is used as the object ID and username.
	// Required.
	Subject string
	// ClientID is the token's aud (and the client its pairwise sub is
	// for); default "authtest-client".
	ClientID string
	// Tenant is the tenant (an ID or a domain) of the token's tid and iss
	// ([Server.Issuer]); default the user's home tenant.
	Tenant string
	// Nonce is the nonce claim; none when empty.
	Nonce string
	// IssuedAt is the token's iat and nbf; default [Server.Now].
	IssuedAt time.Time
	// Lifetime is how long the token lives; default an hour.
	Lifetime time.Duration
	// AuthTime is the auth_time claim; default IssuedAt.
	AuthTime time.Time
	// Claims are more claims; they override the ones above, and a nil
	// value removes a claim (such as "nonce" or "iat").
	Claims map[string]any
}

// IssueIDToken mints an ID token signed by the server's current key, as
// its token endpoint would issue it through [Server.Authority], without a
// sign-in: for tests of clients that must refuse an ID token that is
// valid but not theirs (another audience, issuer, nonce, or out of date).
// It panics only if signing fails.
func (s *Server) IssueIDToken(spec IDTokenSpec) string {
	if spec.Subject == "" {
		panic("authtest: IssueIDToken: IDTokenSpec.Subject is empty")
	}
	s.mu.Lock()
	u := s.userLocked(spec.Subject)
	s.mu.Unlock()
	if u == nil {
		u = &User{Username: spec.Subject, ObjectID: spec.Subject, TenantID: DefaultTenant, DisplayName: spec.Subject, ACR: "1"}
	}
	tenant := spec.Tenant
	if tenant == "" {
		tenant = u.TenantID
	}
	tid := s.TenantID(tenant)
	iat := spec.IssuedAt
	if iat.IsZero() {
		iat = s.Now()
	}
	authTime := spec.AuthTime
	if authTime.IsZero() {
		authTime = iat
	}
	clientID := spec.ClientID
	if clientID == "" {
		clientID = "authtest-client"
	}
	tok, err := s.mintIDToken(idTokenSpec{
		issuer: s.Issuer(tid), tid: tid, clientID: clientID, nonce: spec.Nonce, user: u,
		authTime: authTime, acr: u.ACR, amr: []string{"pwd"}, iat: iat, lifetime: spec.Lifetime, extra: spec.Claims,
	})
	if err != nil {
		panic(err)
	}
	return tok
}

// accessTokenIssuerFor returns the issuer (iss) of access tokens issued
// through authority a for tenant ID tid: for ADFS its access_token_issuer,
// as ADFS puts in access tokens; for the others that of [Server.issuerFor].
func (s *Server) accessTokenIssuerFor(r *http.Request, a *authority, tid string) string {
	if a.kind == kindADFS {
		return s.adfsAccessTokenIssuer(r)
	}
	return s.issuerFor(r, a, tid)
}

// adfsAccessTokenIssuer is the issuer of ADFS access tokens, which ADFS's
// discovery document publishes as access_token_issuer: not its OpenID
// issuer but http://{host}/adfs/services/trust, its WS-Trust identifier.
func (s *Server) adfsAccessTokenIssuer(r *http.Request) string {
	host := s.endpointHost(r)
	return "http://" + hostOnly(strings.TrimPrefix(strings.TrimPrefix(host, "https://"), "http://")) + "/adfs/services/trust"
}

// issuerFor returns the issuer of tokens issued through authority a for
// tenant ID tid (ID tokens, and access tokens but for ADFS's).
func (s *Server) issuerFor(r *http.Request, a *authority, tid string) string {
	host := s.issuerHost(r)
	switch a.kind {
	case kindADFS:
		return host + "/adfs"
	case kindOIDC:
		return host + "/oidc"
	case kindB2C:
		return host + "/" + tid + "/v2.0/"
	}
	return host + "/" + tid + "/v2.0"
}
