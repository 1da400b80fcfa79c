package authtest

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client authentication at the token endpoint: a secret in the form or
// with HTTP Basic authentication (RFC 6749 section 2.3.1), a JWT client
// assertion signed by a registered certificate's key (RFC 7523), or a
// federated credential's outside token.

const (
	assertionTypeJWT = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	// assertionSkew is the clock skew allowed on client assertions' exp
	// and nbf, as Entra allows.
	assertionSkew = 5 * time.Minute
)

// authenticatedClient is the client a token request authenticated as.
type authenticatedClient struct {
	*Client
	azpacr string // "0" public, "1" secret, "2" certificate or federated
}

// authenticateClient identifies and authenticates the client of a token
// request.
func (s *Server) authenticateClient(r *http.Request, a *authority, form url.Values) (*authenticatedClient, *oauthError) {
	clientID := form.Get("client_id")
	basicUser, basicPass, hasBasic := r.BasicAuth()
	if hasBasic {
		u, err1 := url.QueryUnescape(basicUser)
		p, err2 := url.QueryUnescape(basicPass)
		if err1 != nil || err2 != nil {
			return nil, oerr("invalid_client", 7000215, "The client credentials in the Authorization header are not form-urlencoded as RFC 6749 section 2.3.1 requires.")
		}
		basicUser, basicPass = u, p
		if clientID != "" && clientID != basicUser {
			return nil, oerr("invalid_request", 90023, "The client_id in the request body and the one in the Authorization header differ.")
		}
		clientID = basicUser
	}
	if clientID == "" {
		return nil, errMissingParam("client_id")
	}
	secret, hasSecret := form.Get("client_secret"), form.Has("client_secret")
	assertion, hasAssertion := form.Get("client_assertion"), form.Has("client_assertion")
	methods := 0
	for _, b := range []bool{hasBasic, hasSecret, hasAssertion} {
		if b {
			methods++
		}
	}
	if methods > 1 {
		return nil, oerr("invalid_request", 90023, "The request uses more than one client authentication method; use exactly one of client_secret, client_assertion and HTTP Basic authentication.")
	}
	s.mu.Lock()
	c := s.clientLocked(clientID)
	s.mu.Unlock()
	if c == nil {
		dir := a.tid
		if dir == "" {
			dir = a.tenant
		}
		return nil, oerr("unauthorized_client", 700016, "Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", clientID, dir)
	}
	if c.Public {
		if methods > 0 {
			return nil, oerr("invalid_client", 700025, "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.")
		}
		return &authenticatedClient{Client: c, azpacr: "0"}, nil
	}
	switch {
	case hasBasic:
		return s.checkSecret(c, basicPass)
	case hasSecret:
		if a.kind == kindOIDC {
			return nil, oerr("invalid_client", 0, "client_secret_post is not an accepted client authentication method here; send the secret with HTTP Basic authentication (client_secret_basic).")
		}
		return s.checkSecret(c, secret)
	case hasAssertion:
		typ := form.Get("client_assertion_type")
		if typ == "" {
			return nil, errMissingParam("client_assertion_type")
		}
		if typ != assertionTypeJWT {
			return nil, oerr("invalid_request", 90023, "The client_assertion_type is not supported; it must be %s.", assertionTypeJWT)
		}
		return s.checkAssertion(r, a, c, assertion)
	}
	return nil, oerr("invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
}

func (s *Server) checkSecret(c *Client, secret string) (*authenticatedClient, *oauthError) {
	if c.Secret == "" || subtle.ConstantTimeCompare([]byte(c.Secret), []byte(secret)) != 1 {
		return nil, oerr("invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", c.ID)
	}
	return &authenticatedClient{Client: c, azpacr: "1"}, nil
}

// assertionAlgorithms are the client assertion algorithms an authority
// accepts for a key. Entra (and B2C) accept RS256 and PS256 with RSA keys
// only, AD FS RS256 only; the plain OIDC authority accepts what its
// metadata lists (RS256 and ES256/384/512).
func assertionAlgorithms(kind authorityKind) []string {
	switch kind {
	case kindOIDC:
		return oidcSigningAlgs
	case kindADFS:
		return []string{"RS256"}
	}
	return []string{"RS256", "PS256"}
}

// oidcSigningAlgs are the client assertion algorithms the plain OIDC
// authority lists in its metadata.
var oidcSigningAlgs = []string{"RS256", "ES256", "ES384", "ES512"}

// assertionAudiences are the aud values a client assertion may carry for
// a request reaching authority a: the tenant's token endpoint on the
// cloud's global host (a regional request included), with the tenant as
// the request named it or as its ID.
func (s *Server) assertionAudiences(r *http.Request, a *authority) []string {
	host := s.issuerHost(r)
	switch a.kind {
	case kindADFS:
		return []string{host + "/adfs/oauth2/token"}
	case kindOIDC:
		return []string{host + "/oidc/token", host + "/oidc"}
	case kindB2C:
		return []string{host + a.base + "/oauth2/v2.0/token"}
	}
	out := []string{host + "/" + a.tenant + "/oauth2/v2.0/token"}
	if !strings.EqualFold(a.tid, a.tenant) {
		out = append(out, host+"/"+a.tid+"/oauth2/v2.0/token")
	}
	return out
}

func (s *Server) checkAssertion(r *http.Request, a *authority, c *Client, assertion string) (*authenticatedClient, *oauthError) {
	t, err := parseJWT(assertion)
	if err != nil {
		return nil, oerr("invalid_client", 50027, "JWT token is invalid or malformed: %v.", err)
	}
	iss := t.str("iss")
	if iss != c.ID {
		if len(c.FederatedCredentials) > 0 {
			return s.checkFederated(c, t)
		}
		return nil, oerr("invalid_client", 700021, "Client assertion application identifier doesn't match 'client_id' parameter: its iss is '%s', the client_id '%s'.", iss, c.ID)
	}
	if sub := t.str("sub"); sub != iss {
		return nil, oerr("invalid_client", 50048, "Subject mismatches Issuer claim in the client assertion: sub is '%s', iss '%s'.", sub, iss)
	}
	cert, tp := findCertificate(c.Certificates, t)
	if cert == nil {
		if tp == "" {
			return nil, oerr("invalid_client", 700027, "Client assertion failed signature validation. [Reason - The assertion's header names no certificate: it has neither x5t#S256 nor x5t.]")
		}
		return nil, oerr("invalid_client", 700027, "Client assertion failed signature validation. [Reason - The key was not found., Thumbprint of key used by client: '%s', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '%s'.]", tp, c.ID)
	}
	algs := assertionAlgorithms(a.kind)
	if err := t.verify(cert.PublicKey, algs); err != nil {
		if errors.Is(err, errAlgorithm) {
			return nil, oerr("invalid_client", 5002738, "Invalid JWT token. '%s' is not a supported signature algorithm for this key. Supported signing algorithms are: '%s'.", t.alg(), strings.Join(algs, ", "))
		}
		return nil, oerr("invalid_client", 700027, "Client assertion failed signature validation. [Reason - %v]", err)
	}
	if e := s.checkAssertionAudience(r, a, t); e != nil {
		return nil, e
	}
	exp, e := s.checkAssertionTimes(t)
	if e != nil {
		return nil, e
	}
	jti := t.str("jti")
	if jti == "" {
		return nil, oerr("invalid_client", 50027, "JWT token is invalid or malformed: the client assertion has no jti claim.")
	}
	now := s.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for j, until := range s.jtis {
		if now.After(until) {
			delete(s.jtis, j)
		}
	}
	key := c.ID + "|" + jti
	if _, used := s.jtis[key]; used {
		return nil, oerr("invalid_client", 50013, "Assertion is invalid: the client assertion's jti '%s' was already used; each client assertion may be presented once.", jti)
	}
	s.jtis[key] = exp.Add(assertionSkew)
	return &authenticatedClient{Client: c, azpacr: "2"}, nil
}

// findCertificate returns the registered certificate the assertion's
// x5t#S256 or x5t names, and the thumbprint it named (hex, as Entra shows
// it) when none matches.
//
// Entra reads a thumbprint in either base64 alphabet, padded or not: RFC
// 7515 asks for base64url without padding, while MSAL Go (v1.10.1,
// apps/internal/oauth/ops/accesstokens/accesstokens.go) writes x5t#S256
// and x5t with base64.StdEncoding, padding included, and Entra accepts
// those assertions. So does this server.
func findCertificate(certs []*x509.Certificate, t *jwt) (*x509.Certificate, string) {
	s256, hasS256 := decodeThumbprint(t.headerString("x5t#S256"), sha256.Size)
	s1, hasS1 := decodeThumbprint(t.headerString("x5t"), sha1.Size)
	for _, c := range certs {
		if hasS256 {
			if h := sha256.Sum256(c.Raw); subtle.ConstantTimeCompare(h[:], s256) == 1 {
				return c, ""
			}
		}
		if hasS1 {
			if h := sha1.Sum(c.Raw); subtle.ConstantTimeCompare(h[:], s1) == 1 {
				return c, ""
			}
		}
	}
	for _, name := range []string{"x5t", "x5t#S256"} {
		raw := t.headerString(name)
		if raw == "" {
			continue
		}
		if b, ok := decodeAnyBase64(raw); ok {
			return nil, strings.ToUpper(fmt.Sprintf("%x", b))
		}
		if len(raw) > 100 {
			raw = raw[:100] + "..."
		}
		return nil, raw
	}
	return nil, ""
}

// thumbprintEncodings are the spellings of a certificate thumbprint the
// server reads: base64url and standard base64, each without and with
// padding.
var thumbprintEncodings = []*base64.Encoding{base64.RawURLEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.StdEncoding}

// decodeThumbprint decodes a thumbprint header value of size bytes
// written in any of thumbprintEncodings.
func decodeThumbprint(s string, size int) ([]byte, bool) {
	b, ok := decodeAnyBase64(s)
	if !ok || len(b) != size {
		return nil, false
	}
	return b, true
}

// decodeAnyBase64 decodes s in the first of thumbprintEncodings that
// reads it. A value mixing the two alphabets reads in none.
func decodeAnyBase64(s string) ([]byte, bool) {
	if s == "" {
		return nil, false
	}
	for _, enc := range thumbprintEncodings {
		if b, err := enc.DecodeString(s); err == nil {
			return b, true
		}
	}
	return nil, false
}

func (s *Server) checkAssertionAudience(r *http.Request, a *authority, t *jwt) *oauthError {
	want := s.assertionAudiences(r, a)
	for _, got := range t.audiences() {
		if containsFold(want, got) {
			return nil
		}
	}
	return oerr("invalid_client", 700023, "Client assertion audience claim does not match Realm issuer: aud is '%s', expected '%s'.", strings.Join(t.audiences(), "', '"), want[0])
}

// checkAssertionTimes checks exp and nbf on the server clock with five
// minutes of skew, and returns exp.
func (s *Server) checkAssertionTimes(t *jwt) (time.Time, *oauthError) {
	now := s.Now()
	expS, ok := t.num("exp")
	if !ok {
		return time.Time{}, oerr("invalid_client", 50027, "JWT token is invalid or malformed: the client assertion has no exp claim.")
	}
	exp := time.Unix(expS, 0)
	nbf := time.Time{}
	if n, ok := t.num("nbf"); ok {
		nbf = time.Unix(n, 0)
	}
	if now.After(exp.Add(assertionSkew)) || (!nbf.IsZero() && now.Before(nbf.Add(-assertionSkew))) {
		return time.Time{}, oerr("invalid_client", 700024, "Client assertion is not within its valid time range. Current time: %s, assertion valid from %s, expiry time of assertion %s.",
			now.UTC().Format(time.RFC3339), formatTimeOrNone(nbf), exp.UTC().Format(time.RFC3339))
	}
	return exp, nil
}

func formatTimeOrNone(t time.Time) string {
	if t.IsZero() {
		return "(no nbf)"
	}
	return t.UTC().Format(time.RFC3339)
}

// checkFederated authenticates c with an outside issuer's token.
func (s *Server) checkFederated(c *Client, t *jwt) (*authenticatedClient, *oauthError) {
	iss, sub := t.str("iss"), t.str("sub")
	var fc *FederatedCredential
	for i := range c.FederatedCredentials {
		if c.FederatedCredentials[i].Issuer == iss {
			fc = &c.FederatedCredentials[i]
			if c.FederatedCredentials[i].Subject == sub {
				break
			}
		}
	}
	if fc == nil {
		return nil, oerr("invalid_client", 700211, "No matching federated identity record found for presented assertion issuer '%s'.", iss)
	}
	auds := fc.Audiences
	if len(auds) == 0 {
		auds = []string{TokenExchangeAudience}
	}
	audOK := false
	for _, got := range t.audiences() {
		if containsFold(auds, got) {
			audOK = true
		}
	}
	if !audOK {
		return nil, oerr("invalid_client", 700212, "No matching federated identity record found for presented assertion audience '%s'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion.", strings.Join(t.audiences(), "', '"))
	}
	if fc.Subject != sub {
		return nil, oerr("invalid_client", 700213, "No matching federated identity record found for presented assertion subject '%s'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion.", sub)
	}
	verified := len(fc.Keys) == 0 && s.signedByOwnKey(t)
	for _, k := range fc.Keys {
		var algs []string
		switch k.(type) {
		case *rsa.PublicKey:
			algs = []string{"RS256", "PS256", "RS384", "RS512", "PS384", "PS512"}
		case *ecdsa.PublicKey:
			algs = []string{"ES256", "ES384", "ES512"}
		}
		if t.verify(k, algs) == nil {
			verified = true
			break
		}
	}
	if !verified {
		return nil, oerr("invalid_client", 700027, "Client assertion failed signature validation. [Reason - no signing key of the federated issuer '%s' verifies the assertion.]", iss)
	}
	if _, e := s.checkAssertionTimes(t); e != nil {
		return nil, e
	}
	return &authenticatedClient{Client: c, azpacr: "2"}, nil
}
