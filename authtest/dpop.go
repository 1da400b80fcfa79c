package authtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// DPoP (RFC 9449), the server side: proofs are parsed and verified here
// with the standard library, like every JWT the server reads, so a bug in
// a client's DPoP library (or in jwx) is caught rather than shared.
//
// With [WithDPoP], the plain OpenID Connect shape ([Server.OIDCIssuer])
// lists dpop_signing_alg_values_supported in its discovery document and
// its token endpoint honours a DPoP header: a request with a valid proof
// gets an access token bound to the proof's key (cnf.jkt, RFC 9449
// section 6.1) and token_type DPoP; a public client's refresh token is
// bound to the key too (section 5). The resource ([Server.Resource])
// accepts DPoP-bound tokens with the DPoP scheme and a proof of their key
// only, whatever the options.

// Limits of the proofs the server accepts.
const (
	// dpopMaxAge is how old a proof may be, by its iat on the server
	// clock: older proofs are stale.
	dpopMaxAge = 5 * time.Minute
	// dpopMaxAhead is how far in the future a proof's iat may be (clock
	// skew).
	dpopMaxAhead = time.Minute
	// maxProofSize bounds the DPoP header the server parses.
	maxProofSize = 8 << 10
	// maxJTI bounds a proof's jti.
	maxJTI = 256
)

// dpopAlgs are the proof algorithms the server accepts and its discovery
// document lists.
var dpopAlgs = []string{"ES256", "ES384", "ES512", "PS256", "RS256"}

// Error codes of DPoP failures (RFC 9449 sections 5, 7.1, 8 and 9).
const (
	errInvalidDPoPProof = "invalid_dpop_proof"
	errUseDPoPNonce     = "use_dpop_nonce"
	errInvalidToken     = "invalid_token"
)

// WithDPoP turns DPoP (RFC 9449) on at the plain OpenID Connect shape
// ([Server.OIDCIssuer]): its discovery document lists
// dpop_signing_alg_values_supported (ES256, ES384, ES512, PS256, RS256),
// and its token endpoint verifies a request's DPoP proof and binds the
// tokens it issues to the proof's key (token_type DPoP, cnf.jkt in the
// access token; a public client's refresh token can then be redeemed only
// with a proof of the same key). A token request without a DPoP header
// still gets a bearer token. The Entra, B2C and AD FS shapes ignore DPoP,
// as Entra does.
//
// A proof is refused (400 invalid_dpop_proof at the token endpoint; 401
// with a DPoP challenge at the resource) when it is not a dpop+jwt JWS
// signed with the public key of its jwk header by one of those
// algorithms, when its jwk holds a private key, when its htm or htu do
// not match the request (htu without query and fragment), when its iat is
// more than five minutes old or more than a minute ahead on the server
// clock, when its jti was seen before, or, at the resource, when its ath
// is not the hash of the access token or its key is not the one the
// token is bound to. See [Server.RequireDPoPNonce] for server nonces.
func WithDPoP() Option { return func(c *config) { c.dpop = true } }

// dpopState is the server's DPoP state.
type dpopState struct {
	mu      sync.Mutex
	require map[string]bool      // endpoint → nonces demanded
	nonces  map[string][2]string // endpoint → current and previous nonce
	seen    map[string]time.Time // jkt|jti of accepted proofs → when to forget it
	inserts int
}

// RequireDPoPNonce makes the endpoints named (EndpointToken, EndpointResource)
// demand a server nonce in DPoP proofs (RFC 9449 section 8 at the token
// endpoint, section 9 at the resource); with no argument, no endpoint
// demands one. A proof without the endpoint's current (or previous, see
// [Server.RotateDPoPNonces]) nonce is answered, at the token endpoint,
//
//	400 DPoP-Nonce: <nonce>
//	{"error":"use_dpop_nonce","error_description":"..."}
//
// and at the resource
//
//	401 DPoP-Nonce: <nonce>
//	WWW-Authenticate: DPoP error="use_dpop_nonce", error_description="..."
//
// Every answer of an endpoint that demands nonces to a DPoP request
// carries its current nonce in DPoP-Nonce. The token endpoint and the
// resource have nonces of their own.
func (s *Server) RequireDPoPNonce(endpoints ...string) {
	d := &s.dpop
	d.mu.Lock()
	defer d.mu.Unlock()
	d.require = map[string]bool{}
	for _, e := range endpoints {
		d.require[e] = true
	}
}

// RotateDPoPNonces gives each endpoint a new nonce. The previous one is
// still accepted (a client that learnt the new one from any answer
// switches without a refusal); the one before it is not.
func (s *Server) RotateDPoPNonces() {
	d := &s.dpop
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, e := range []string{EndpointToken, EndpointResource} {
		n := d.noncesLocked(e)
		d.nonces[e] = [2]string{randToken(16), n[0]}
	}
}

// DPoPNonce returns the current DPoP nonce of endpoint (EndpointToken or
// EndpointResource), for tests that build proofs by hand.
func (s *Server) DPoPNonce(endpoint string) string {
	d := &s.dpop
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.noncesLocked(endpoint)[0]
}

// noncesLocked returns endpoint's nonces, making the first one. d.mu must
// be held.
func (d *dpopState) noncesLocked(endpoint string) [2]string {
	if d.nonces == nil {
		d.nonces = map[string][2]string{}
	}
	n, ok := d.nonces[endpoint]
	if !ok {
		n = [2]string{randToken(16), ""}
		d.nonces[endpoint] = n
	}
	return n
}

// nonceFor returns endpoint's current nonce when it demands nonces, else
// "".
func (s *Server) nonceFor(endpoint string) string {
	d := &s.dpop
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.require[endpoint] {
		return ""
	}
	return d.noncesLocked(endpoint)[0]
}

// dpopProof is a DPoP proof whose signature verified with the public key
// of its own jwk header.
type dpopProof struct {
	jkt      string // RFC 7638 SHA-256 thumbprint of the key, base64url
	jti      string
	htm, htu string
	iat      int64
	ath      string
	hasAth   bool
	nonce    string
	hasNonce bool
}

// errDPoPProof is wrapped by every error of parseDPoPProof.
var errDPoPProof = errors.New("invalid DPoP proof")

// parseDPoPProof parses and verifies a DPoP proof as far as it can without
// the request (RFC 9449 section 4.3, checks 2 to 7): a compact JWS of typ
// dpop+jwt, signed by one of dpopAlgs with the public key of its jwk
// header (which must hold no private key), with string jti, htm and htu,
// a numeric iat, and ath and nonce strings when present. Errors wrap
// errDPoPProof and never quote the proof.
func parseDPoPProof(s string) (*dpopProof, error) {
	fail := func(format string, args ...any) (*dpopProof, error) {
		return nil, fmt.Errorf("%w: "+format, append([]any{errDPoPProof}, args...)...)
	}
	if len(s) > maxProofSize {
		return fail("longer than %d bytes", maxProofSize)
	}
	t, err := parseJWT(s)
	if err != nil {
		return fail("%v", err)
	}
	if typ := t.headerString("typ"); !strings.EqualFold(typ, "dpop+jwt") {
		return fail("typ is %q, want dpop+jwt", clipString(typ))
	}
	if _, ok := t.header["crit"]; ok {
		return fail("the header has crit parameters, none of which is understood")
	}
	raw, ok := t.header["jwk"].(map[string]any)
	if !ok {
		return fail("the header has no jwk object")
	}
	pub, jkt, err := parseProofJWK(raw)
	if err != nil {
		return fail("jwk: %v", err)
	}
	if err := t.verify(pub, dpopAlgs); err != nil {
		return fail("%v", err)
	}
	p := &dpopProof{jkt: jkt}
	for _, c := range []struct {
		name string
		dst  *string
	}{{"jti", &p.jti}, {"htm", &p.htm}, {"htu", &p.htu}} {
		v, ok := t.claims[c.name].(string)
		if !ok || v == "" {
			return fail("no %s claim (a non-empty string)", c.name)
		}
		*c.dst = v
	}
	if len(p.jti) > maxJTI {
		return fail("jti is longer than %d bytes", maxJTI)
	}
	if p.iat, ok = t.num("iat"); !ok {
		return fail("no iat claim (a number)")
	}
	if v, present := t.claims["ath"]; present {
		if p.ath, ok = v.(string); !ok {
			return fail("ath is not a string")
		}
		p.hasAth = true
	}
	if v, present := t.claims["nonce"]; present {
		if p.nonce, ok = v.(string); !ok {
			return fail("nonce is not a string")
		}
		p.hasNonce = true
	}
	return p, nil
}

// privateJWKMembers are the JWK members of private (or symmetric) keys
// (RFC 7518 section 6).
var privateJWKMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// parseProofJWK reads the public key of a proof's jwk header (RFC 7517,
// RFC 7518 section 6): an EC key on P-256, P-384 or P-521 with
// coordinates of the curve's full size, or an RSA key of 2048 to 8192
// bits with minimal big-endian n and e. It returns the key and its RFC
// 7638 SHA-256 thumbprint, computed from the key itself (so two encodings
// of one key have one thumbprint).
func parseProofJWK(m map[string]any) (crypto.PublicKey, string, error) {
	for _, name := range privateJWKMembers {
		if _, ok := m[name]; ok {
			return nil, "", fmt.Errorf("it has the private member %q: a proof's jwk must be a public key", name)
		}
	}
	str := func(name string) ([]byte, error) {
		s, ok := m[name].(string)
		if !ok || s == "" {
			return nil, fmt.Errorf("no %s member (a string)", name)
		}
		b, err := b64.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("%s is not unpadded base64url", name)
		}
		return b, nil
	}
	kty, _ := m["kty"].(string)
	switch kty {
	case "EC":
		crv, _ := m["crv"].(string)
		var curve elliptic.Curve
		switch crv {
		case "P-256":
			curve = elliptic.P256()
		case "P-384":
			curve = elliptic.P384()
		case "P-521":
			curve = elliptic.P521()
		default:
			return nil, "", fmt.Errorf("crv %q is not P-256, P-384 or P-521", clipString(crv))
		}
		x, err := str("x")
		if err != nil {
			return nil, "", err
		}
		y, err := str("y")
		if err != nil {
			return nil, "", err
		}
		size := (curve.Params().BitSize + 7) / 8
		if len(x) != size || len(y) != size {
			return nil, "", fmt.Errorf("x and y of a %s key are %d bytes each (RFC 7518 section 6.2.1.2)", crv, size)
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(curve, append(append([]byte{4}, x...), y...))
		if err != nil {
			return nil, "", fmt.Errorf("the point is not on %s", crv)
		}
		return pub, thumbprint(map[string]string{"crv": crv, "kty": "EC", "x": b64.EncodeToString(x), "y": b64.EncodeToString(y)}), nil
	case "RSA":
		n, err := str("n")
		if err != nil {
			return nil, "", err
		}
		e, err := str("e")
		if err != nil {
			return nil, "", err
		}
		if n[0] == 0 || e[0] == 0 {
			return nil, "", errors.New("n and e must have no leading zero octet (RFC 7518 section 6.3.1)")
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n)}
		if bits := pub.N.BitLen(); bits < 2048 || bits > 8192 {
			return nil, "", fmt.Errorf("an RSA key of %d bits (2048 to 8192 are accepted)", bits)
		}
		if len(e) > 4 {
			return nil, "", errors.New("e is too large")
		}
		for _, b := range e {
			pub.E = pub.E<<8 | int(b)
		}
		if pub.E < 3 || pub.E%2 == 0 {
			return nil, "", errors.New("e is not an odd number of at least 3")
		}
		return pub, thumbprint(map[string]string{"e": b64.EncodeToString(e), "kty": "RSA", "n": b64.EncodeToString(n)}), nil
	}
	return nil, "", fmt.Errorf("kty %q is not EC or RSA", clipString(kty))
}

// thumbprint is the RFC 7638 SHA-256 thumbprint of a JWK's required
// members: their JSON object with the members in lexicographic order
// (encoding/json sorts map keys) and no white space.
func thumbprint(members map[string]string) string {
	b, _ := json.Marshal(members)
	h := sha256.Sum256(b)
	return b64.EncodeToString(h[:])
}

// accessTokenHash is a proof's ath for token: the base64url SHA-256 hash
// of its ASCII octets (RFC 9449 section 4.2).
func accessTokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return b64.EncodeToString(h[:])
}

// dpopFailure is why a request's proof is refused: code is
// invalid_dpop_proof, use_dpop_nonce or invalid_token.
type dpopFailure struct {
	code, desc string
}

// requestURI is the URI r was sent to, without query and fragment: the
// value its proof's htu must match (RFC 9449 section 4.3, check 9).
func requestURI(r *http.Request) *url.URL {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return &url.URL{Scheme: scheme, Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath}
}

// sameHTU reports whether the htu claim names the URI u (RFC 3986
// syntax- and scheme-based normalization: case of the scheme and host, a
// default port, an empty path) and explains why not. An htu with a query
// or fragment is refused: RFC 9449 section 4.2 leaves them out.
func sameHTU(htu string, u *url.URL) (bool, string) {
	p, err := url.Parse(htu)
	if err != nil || !p.IsAbs() || p.Host == "" || p.Opaque != "" || p.User != nil {
		return false, "htu is not an absolute http(s) URI"
	}
	if p.RawQuery != "" || p.ForceQuery || p.Fragment != "" || strings.ContainsAny(htu, "?#") {
		return false, "htu has a query or a fragment; RFC 9449 section 4.2 leaves them out"
	}
	norm := func(x *url.URL) string {
		scheme := strings.ToLower(x.Scheme)
		host := strings.ToLower(x.Hostname())
		port := x.Port()
		if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
			port = ""
		}
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		if port != "" {
			host += ":" + port
		}
		path := x.EscapedPath()
		if path == "" {
			path = "/"
		}
		return scheme + "://" + host + path
	}
	if norm(p) != norm(u) {
		return false, fmt.Sprintf("htu %q is not the request's URI %q", clipString(htu), clipString(norm(u)))
	}
	return true, ""
}

// checkDPoP checks the proof of request r to endpoint: its one DPoP
// header, signature and claims; htm and htu against the request; iat on
// the server clock; for a resource request, ath against accessToken and
// the key against boundJKT (the token's cnf.jkt); the endpoint's nonce
// when it demands one; and a jti never seen before, which it then
// records. It returns the proof's key thumbprint.
func (s *Server) checkDPoP(r *http.Request, endpoint, accessToken, boundJKT string) (string, *dpopFailure) {
	bad := func(format string, args ...any) (string, *dpopFailure) {
		return "", &dpopFailure{code: errInvalidDPoPProof, desc: fmt.Sprintf(format, args...)}
	}
	vals := r.Header.Values("DPoP")
	switch len(vals) {
	case 0:
		return bad("The request has no DPoP header.")
	case 1:
	default:
		return bad("The request has %d DPoP headers; RFC 9449 section 4.3 allows one.", len(vals))
	}
	p, err := parseDPoPProof(vals[0])
	if err != nil {
		return bad("The DPoP proof is not valid: %v.", err)
	}
	if p.htm != r.Method {
		return bad("The DPoP proof's htm %q is not the request's method %s.", clipString(p.htm), r.Method)
	}
	if ok, why := sameHTU(p.htu, requestURI(r)); !ok {
		return bad("The DPoP proof's %s.", why)
	}
	now := s.Now()
	iat := time.Unix(p.iat, 0)
	switch {
	case now.Sub(iat) > dpopMaxAge:
		return bad("The DPoP proof is stale: issued at %s, more than %s before the server's time %s.",
			iat.UTC().Format(time.RFC3339), dpopMaxAge, now.UTC().Format(time.RFC3339))
	case iat.Sub(now) > dpopMaxAhead:
		return bad("The DPoP proof is issued in the future: at %s, more than %s after the server's time %s.",
			iat.UTC().Format(time.RFC3339), dpopMaxAhead, now.UTC().Format(time.RFC3339))
	}
	if accessToken != "" {
		if !p.hasAth {
			return bad("The DPoP proof has no ath claim; a proof presented with an access token must carry the token's hash.")
		}
		if subtle.ConstantTimeCompare([]byte(p.ath), []byte(accessTokenHash(accessToken))) != 1 {
			return bad("The DPoP proof's ath is not the hash of the access token presented.")
		}
	}
	if boundJKT != "" && subtle.ConstantTimeCompare([]byte(p.jkt), []byte(boundJKT)) != 1 {
		return "", &dpopFailure{code: errInvalidToken, desc: "The access token is bound to another key than the DPoP proof's (cnf.jkt does not match)."}
	}
	d := &s.dpop
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.require[endpoint] {
		n := d.noncesLocked(endpoint)
		switch {
		case !p.hasNonce:
			return "", &dpopFailure{code: errUseDPoPNonce, desc: nonceDescription(endpoint, "requires a nonce in the DPoP proof")}
		case p.nonce != n[0] && (n[1] == "" || p.nonce != n[1]):
			return "", &dpopFailure{code: errUseDPoPNonce, desc: nonceDescription(endpoint, "does not know the DPoP proof's nonce (it may have been replaced)")}
		}
	}
	key := p.jkt + "|" + p.jti
	if _, used := d.seen[key]; used {
		return bad("The DPoP proof's jti was used before: a proof is good for one request.")
	}
	if d.seen == nil {
		d.seen = map[string]time.Time{}
	}
	if d.inserts++; d.inserts%256 == 0 {
		for k, until := range d.seen {
			if now.After(until) {
				delete(d.seen, k)
			}
		}
	}
	d.seen[key] = iat.Add(dpopMaxAge + dpopMaxAhead)
	return p.jkt, nil
}

func nonceDescription(endpoint, what string) string {
	if endpoint == EndpointToken {
		return "Authorization server " + what + "."
	}
	return "Resource server " + what + "."
}

// tokenDPoP checks the DPoP proof of a token request to authority a, and
// returns the key thumbprint tokens must be bound to: "" for a request
// without a DPoP header or to a shape without DPoP (such requests get
// bearer tokens). When the endpoint demands nonces, the answer carries the
// current one.
func (s *Server) tokenDPoP(w http.ResponseWriter, r *http.Request, a *authority) (string, *oauthError) {
	if !s.cfg.dpop || a.kind != kindOIDC {
		return "", nil
	}
	if _, ok := r.Header["Dpop"]; !ok {
		return "", nil
	}
	if n := s.nonceFor(EndpointToken); n != "" {
		w.Header().Set("DPoP-Nonce", n)
	}
	jkt, f := s.checkDPoP(r, EndpointToken, "", "")
	if f != nil {
		code := f.code
		if code == errInvalidToken {
			code = errInvalidDPoPProof
		}
		return "", &oauthError{status: http.StatusBadRequest, code: code, desc: f.desc}
	}
	return jkt, nil
}

// boundKey returns the cnf.jkt of an access token, "" when it is not
// DPoP-bound.
func boundKey(t *jwt) string {
	cnf, _ := t.claims["cnf"].(map[string]any)
	jkt, _ := cnf["jkt"].(string)
	return jkt
}

// resourceDPoP checks the binding of a token presented to the resource
// with scheme dpop (true for "DPoP", false for "Bearer"): a DPoP-bound
// token only with the DPoP scheme and a valid proof of its key, any
// other token only with Bearer. It answers the 401 itself and reports
// whether the request may go on.
func (s *Server) resourceDPoP(w http.ResponseWriter, r *http.Request, t *jwt, token string, dpop bool) bool {
	jkt := boundKey(t)
	refuse := func(code, desc string) bool {
		h := fmt.Sprintf(`DPoP error="%s", error_description="%s", algs="%s"`, code, strings.ReplaceAll(desc, `"`, `'`), strings.Join(dpopAlgs, " "))
		s.challenge(w, r, h, "InvalidAuthenticationToken", desc)
		return false
	}
	switch {
	case !dpop && jkt == "":
		return true
	case !dpop:
		return refuse(errInvalidToken, "The access token is DPoP-bound: present it with the DPoP scheme and a proof of its key, not as a bearer token.")
	case jkt == "":
		return refuse(errInvalidToken, "The access token is not DPoP-bound: present it with the Bearer scheme.")
	}
	if n := s.nonceFor(EndpointResource); n != "" {
		w.Header().Set("DPoP-Nonce", n)
	}
	if _, f := s.checkDPoP(r, EndpointResource, token, jkt); f != nil {
		return refuse(f.code, f.desc)
	}
	return true
}

// clipString shortens s for an error description.
func clipString(s string) string {
	const max = 100
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}

// boundTo makes tr the answer of a DPoP token request whose proof's key
// is jkt: token_type DPoP (RFC 9449 section 5). A request without a proof
// (jkt "") keeps token_type Bearer.
func (tr *tokenResponse) boundTo(jkt string) *tokenResponse {
	if jkt != "" {
		tr.TokenType = "DPoP"
	}
	return tr
}

// publicBinding is the key a refresh token issued to c is bound to: a
// public client's refresh tokens are bound to the DPoP key of the request
// (RFC 9449 section 5); a confidential client's are bound to its
// authentication instead.
func publicBinding(c *authenticatedClient, jkt string) string {
	if c.Public {
		return jkt
	}
	return ""
}
