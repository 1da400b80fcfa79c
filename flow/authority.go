package flow

import (
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/bearerhttp/bearer/credential"
	"github.com/bearerhttp/bearer/internal/entra"
	"github.com/bearerhttp/bearer/internal/oauth"
)

// authorityKind is the shape of an authority.
type authorityKind int

const (
	// kindEntra is an Entra tenant authority: https://{host}/{tenant},
	// on one of Entra's known hosts or any other (discovered).
	kindEntra authorityKind = iota
	// kindCIAM is Entra External ID: https://{name}.ciamlogin.com/{tenant}.
	kindCIAM
	// kindB2C is Azure AD B2C: https://{host}/{tenant}/{policy} or
	// https://{host}/tfp/{tenant}/{policy}.
	kindB2C
	// kindADFS is ADFS: https://{host}/adfs.
	kindADFS
	// kindOIDC is any OpenID Connect authority (WithOIDCAuthority).
	kindOIDC
)

func (k authorityKind) String() string {
	switch k {
	case kindEntra:
		return "Entra"
	case kindCIAM:
		return "External ID (CIAM)"
	case kindB2C:
		return "B2C"
	case kindADFS:
		return "ADFS"
	case kindOIDC:
		return "OIDC"
	}
	return fmt.Sprintf("authorityKind(%d)", int(k))
}

// The multi-tenant names of Entra.
const (
	tenantCommon        = "common"
	tenantOrganizations = "organizations"
	tenantConsumers     = "consumers"
)

// b2cHosts are the domains of B2C's login hosts.
var b2cHosts = []string{".b2clogin.com", ".b2clogin.cn", ".b2clogin.us", ".b2clogin.de"}

// ciamSuffix is the domain of External ID's login hosts.
const ciamSuffix = ".ciamlogin.com"

// authority is a parsed authority URL. It is a comparable value: two
// authorities that are the same have equal fields.
type authority struct {
	kind   authorityKind
	scheme string // https, or http for a loopback host
	host   string // lower-cased, with the port if any
	tenant string // Entra, CIAM, B2C: the tenant, lower-cased (names and IDs are case-insensitive, and the cache compares realms exactly, as MSAL does); ADFS: "adfs"; OIDC: ""
	policy string // B2C: the policy (user flow)
	tfp    bool   // B2C: the /tfp/ form
	path   string // the canonical path ("" or "/…", no trailing slash)
}

// parseAuthority parses an authority URL: with oidc, any OpenID Connect
// issuer URL; without, one of the Entra shapes (see [WithAuthority]).
// Errors wrap [ErrInvalidAuthority] and say which check failed.
func parseAuthority(raw string, oidc bool) (authority, error) {
	bad := func(format string, args ...any) (authority, error) {
		return authority{}, fmt.Errorf("%w %q: "+format, append([]any{ErrInvalidAuthority, raw}, args...)...)
	}
	s := strings.TrimSpace(raw)
	if s == "" {
		return bad("empty URL")
	}
	u, err := url.Parse(s)
	if err != nil {
		return bad("not a URL")
	}
	if u.Opaque != "" || u.Host == "" {
		return bad("not an absolute URL with a host")
	}
	if u.User != nil {
		return bad("user information is not allowed")
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return bad("a query or fragment is not allowed")
	}
	a := authority{scheme: strings.ToLower(u.Scheme), host: strings.ToLower(u.Host)}
	switch a.scheme {
	case "https":
	case "http":
		if !oauth.IsLoopback(u.Hostname()) {
			return bad("plain http is allowed only to a loopback host (127.0.0.1, ::1, localhost); use https")
		}
	default:
		return bad("scheme %q is not https", u.Scheme)
	}
	if !validHost(u.Hostname()) || strings.HasSuffix(u.Host, ":") {
		return bad("bad host")
	}
	if u.RawPath != "" || strings.IndexFunc(u.Path, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
		return bad("escaped characters, spaces or control characters in the path are not allowed")
	}
	p := strings.TrimRight(u.Path, "/")
	var segs []string
	if p != "" {
		segs = strings.Split(strings.TrimPrefix(p, "/"), "/")
		for _, sg := range segs {
			if sg == "" {
				return bad("empty path segment")
			}
			if oidc {
				continue
			}
			if !validSegment(sg) {
				return bad("path segment %q is not a tenant, policy or adfs", sg)
			}
		}
	}
	hostname := strings.ToLower(u.Hostname())
	switch {
	case oidc:
		a.kind, a.path = kindOIDC, strings.TrimRight(u.EscapedPath(), "/")
		return a, nil
	case len(segs) > 0 && strings.EqualFold(segs[0], "adfs"):
		if len(segs) != 1 {
			return bad("an ADFS authority is https://{host}/adfs, with nothing after adfs")
		}
		a.kind, a.tenant, a.path = kindADFS, "adfs", "/adfs"
		return a, nil
	case len(segs) > 0 && strings.EqualFold(segs[0], "tfp"):
		if len(segs) != 3 {
			return bad("a B2C authority is https://{host}/tfp/{tenant}/{policy}")
		}
		a.kind, a.tfp, a.tenant, a.policy = kindB2C, true, strings.ToLower(segs[1]), segs[2]
		a.path = "/tfp/" + a.tenant + "/" + a.policy
		return a, nil
	case hasSuffix(hostname, b2cHosts) || len(segs) == 2 && strings.HasPrefix(strings.ToLower(segs[1]), "b2c_"):
		if len(segs) != 2 {
			return bad("a B2C authority is https://{host}/{tenant}/{policy}")
		}
		a.kind, a.tenant, a.policy = kindB2C, strings.ToLower(segs[0]), segs[1]
		a.path = "/" + a.tenant + "/" + a.policy
		return a, nil
	case strings.HasSuffix(hostname, ciamSuffix):
		name := strings.TrimSuffix(hostname, ciamSuffix)
		switch {
		case len(segs) == 0 && (name == "" || strings.Contains(name, ".")):
			return bad("the tenant of an External ID host must be given in the path")
		case len(segs) == 0:
			a.tenant = name + ".onmicrosoft.com"
		case len(segs) == 1:
			a.tenant = strings.ToLower(segs[0])
		default:
			return bad("an External ID authority is https://{name}.ciamlogin.com/{tenant}")
		}
		a.kind, a.path = kindCIAM, "/"+a.tenant
		return a, nil
	}
	switch len(segs) {
	case 0:
		return bad("no tenant: use https://%s/{tenant ID or domain, or common, organizations, consumers}", a.host)
	case 1:
		a.kind, a.tenant = kindEntra, strings.ToLower(segs[0])
		a.path = "/" + a.tenant
		return a, nil
	}
	return bad("an Entra authority is https://{host}/{tenant}, with nothing after the tenant")
}

// validHost reports whether h is an IP address or a DNS name (letters,
// digits, '-', '_' and '.').
func validHost(h string) bool {
	if h == "" {
		return false
	}
	if net.ParseIP(h) != nil {
		return true
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// validSegment reports whether s can be a tenant (ID or domain), a B2C
// policy or "adfs": letters, digits, '.', '-' and '_', and not only dots.
func validSegment(s string) bool {
	if s == "" || len(s) > 256 || strings.Trim(s, ".") == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func hasSuffix(s string, suffixes []string) bool {
	for _, x := range suffixes {
		if strings.HasSuffix(s, x) {
			return true
		}
	}
	return false
}

// String returns the canonical authority URL.
func (a authority) String() string { return a.scheme + "://" + a.host + a.path }

// hostname returns the host without port (and without the brackets of
// an IPv6 literal).
func (a authority) hostname() string { return (&url.URL{Host: a.host}).Hostname() }

// port returns the port of a's host, "" when it has none.
func (a authority) port() string { return (&url.URL{Host: a.host}).Port() }

// known reports whether a is an Entra tenant authority on one of Entra's
// known hosts (on the https port), whose endpoints need no discovery.
func (a authority) known() bool {
	if a.kind != kindEntra || a.scheme != "https" {
		return false
	}
	if port := a.port(); port != "" && port != "443" {
		return false
	}
	return entra.IsKnown(a.hostname())
}

// environment returns the environment (the host field of the MSAL cache
// schema) a's tokens are cached under, unless Entra's instance discovery
// names another: the host, lower-cased, without port, as MSAL Go and MSAL
// Python write it (the cache finds every alias of a known cloud's hosts).
//
// An OpenID Connect authority's environment is its issuer URL without the
// scheme: the host with its port (but a default one) and the path, such
// as idp.example.com/realms/a. MSAL's environment is the identity of a
// token service: refresh tokens and accounts are keyed by it and not by
// the realm, since every tenant of an Entra cloud redeems the cloud's
// refresh tokens. OpenID Connect issuers sharing a host (Keycloak's
// realms, https://{host}/realms/{name}) are separate token services, with
// their own users and refresh tokens: under the host alone, a user with
// one subject in two realms (a realm imported from another keeps its
// users' IDs) would have one refresh token, each sign-in replacing the
// other's and each realm sent the other's, and each issuer's application
// would list and remove the other's accounts. An issuer with no path on
// the default port (https://accounts.example.com) keeps the host alone,
// as MSAL Python writes it.
func (a authority) environment() string {
	if a.kind == kindOIDC {
		host := a.host
		if p := a.port(); (p == "443" && a.scheme == "https") || (p == "80" && a.scheme == "http") {
			host = strings.TrimSuffix(host, ":"+p)
		}
		return host + a.path
	}
	return strings.ToLower(a.hostname())
}

// loopback reports whether a's host is a loopback host.
func (a authority) loopback() bool { return oauth.IsLoopback(a.hostname()) }

// multiTenant reports whether a's tenant is common, organizations or
// consumers: a client-credentials or on-behalf-of request needs a
// specific tenant.
func (a authority) multiTenant() bool {
	return (a.kind == kindEntra || a.kind == kindCIAM) && isMultiTenantName(a.tenant)
}

func isMultiTenantName(t string) bool {
	return strings.EqualFold(t, tenantCommon) || strings.EqualFold(t, tenantOrganizations) || strings.EqualFold(t, tenantConsumers)
}

// credentialKind is the kind of authority a credential signs for.
func (a authority) credentialKind() credential.AuthorityKind {
	switch a.kind {
	case kindADFS:
		return credential.ADFS
	case kindOIDC:
		return credential.OIDC
	}
	return credential.Entra
}

// supportsRegion reports whether a regional endpoint can serve a: Entra
// tenant authorities that are not on a loopback or IP-literal host.
func (a authority) supportsRegion() bool {
	return a.kind == kindEntra && !a.loopback() && net.ParseIP(a.hostname()) == nil
}

// withTenant returns a with its tenant replaced by tenant, as [Tenant]
// asks. An empty tenant, or a's own, changes nothing.
func (a authority) withTenant(tenant string) (authority, error) {
	if tenant == "" || strings.EqualFold(tenant, a.tenant) {
		return a, nil
	}
	switch {
	case a.kind != kindEntra && a.kind != kindCIAM:
		return a, fmt.Errorf("%w: a %s authority has no tenants; Tenant(%q) cannot apply", ErrTenantNotSupported, a.kind, tenant)
	case isMultiTenantName(tenant):
		return a, fmt.Errorf("%w: Tenant(%q): the tenant must be a specific tenant ID or domain, not %s", ErrTenantNotSupported, tenant, tenant)
	case strings.EqualFold(a.tenant, tenantConsumers):
		return a, fmt.Errorf("%w: the application's authority is consumers (personal Microsoft accounts only); Tenant(%q) cannot apply", ErrTenantNotSupported, tenant)
	case !validSegment(tenant):
		return a, fmt.Errorf("%w: Tenant(%q) is not a tenant ID or domain", ErrTenantNotSupported, tenant)
	}
	a.tenant = strings.ToLower(tenant)
	a.path = "/" + a.tenant
	return a, nil
}

// realm returns the realm (the tenant field of the MSAL cache schema) a's
// tokens are cached under, which also names their store partition
// (cache.AppPartition) and their flights: the tenant of an Entra,
// External ID or B2C authority, "adfs" for ADFS, and for an OpenID Connect
// authority its issuer URL as configured (scheme, host, port and path,
// [authority.String]). OpenID Connect issuers that share a host, such as
// Keycloak's realms (https://{host}/realms/{name}), are separate
// authorities with their own keys and client registrations: keyed by the
// host alone (the environment), they would serve each other's tokens.
//
// The environment holds the issuer too ([authority.environment]), so that
// refresh tokens and accounts, which have no realm, are apart as well.
// MSAL Python caches a generic OpenID Connect authority's tokens under
// the host and the first segment of its token endpoint's path (which is
// the same for every Keycloak realm), so tokens of such authorities are
// not shared with it: a lookup by either library misses the other's
// entries rather than finding another issuer's.
func (a authority) realm() string {
	if a.kind == kindOIDC {
		return a.String()
	}
	return a.tenant
}

// metadataURL is where a's OpenID Connect discovery document is.
func (a authority) metadataURL() string {
	switch a.kind {
	case kindADFS, kindOIDC:
		return a.String() + "/.well-known/openid-configuration"
	}
	return a.String() + "/v2.0/.well-known/openid-configuration"
}

// endpoints are an authority's endpoints, computed or discovered.
type endpoints struct {
	authority authority
	// authorization, token, deviceCode, endSession and jwks are the
	// endpoints; deviceCode and endSession may be empty (B2C has no
	// device code flow).
	authorization, token, deviceCode, endSession, jwks string
	// issuer is the discovery document's issuer, possibly with the
	// {tenantid} template; empty until the document has been read.
	issuer string
	// accessTokenIssuer is the document's access_token_issuer, which AD FS
	// publishes: the issuer of its access tokens, unlike its ID tokens'.
	accessTokenIssuer string
	// tenantID is the tenant ID the document's issuer names (the first
	// segment of its path, when a GUID: Entra, B2C and External ID put it
	// there), "" for none or a {tenantid} template.
	tenantID string
	// authMethods and signingAlgs are the discovery document's
	// token_endpoint_auth_methods_supported and
	// token_endpoint_auth_signing_alg_values_supported.
	authMethods, signingAlgs []string
	// dpopAlgs is the document's dpop_signing_alg_values_supported (RFC
	// 9449 section 5.1): empty when the authority does not support DPoP.
	dpopAlgs []string
	// environment is the host tokens from this authority are cached
	// under: the authority's host, lower-cased, without port, as MSAL Go
	// and MSAL Python write it (the cache finds every alias of a known
	// cloud's hosts); for a host instance discovery vouched for, the
	// preferred cache host it named, so that the aliases it listed share
	// entries.
	environment string
	// realm is the realm tokens from this authority are cached under
	// ([authority.realm]).
	realm string
	// discovered is true when the fields come from a discovery document.
	discovered bool
}

// staticEndpoints returns a's endpoints when they are known without a
// network round trip: Entra's known hosts, External ID, B2C and ADFS.
// Discovered authorities (unknown Entra hosts, OIDC) give false.
func (a authority) staticEndpoints() (*endpoints, bool) {
	switch {
	case a.known(), a.kind == kindCIAM, a.kind == kindB2C, a.kind == kindADFS:
	default:
		return nil, false
	}
	base := a.String()
	e := &endpoints{authority: a, environment: a.environment(), realm: a.realm()}
	switch {
	case a.known(), a.kind == kindCIAM:
		e.authorization = base + "/oauth2/v2.0/authorize"
		e.token = base + "/oauth2/v2.0/token"
		e.deviceCode = base + "/oauth2/v2.0/devicecode"
		e.endSession = base + "/oauth2/v2.0/logout"
		e.jwks = base + "/discovery/v2.0/keys"
	case a.kind == kindB2C:
		e.authorization = base + "/oauth2/v2.0/authorize"
		e.token = base + "/oauth2/v2.0/token"
		e.endSession = base + "/oauth2/v2.0/logout"
		e.jwks = base + "/discovery/v2.0/keys"
	case a.kind == kindADFS:
		e.authorization = base + "/oauth2/authorize"
		e.token = base + "/oauth2/token"
		e.deviceCode = base + "/oauth2/devicecode"
		e.endSession = base + "/oauth2/logout"
		e.jwks = base + "/discovery/keys"
	}
	return e, true
}

// regionalToken returns the token endpoint of region for e: the host
// replaced by Entra's regional host (entra.RegionalHost), the path kept.
// The second result is false when e's authority takes no region.
func (e *endpoints) regionalToken(region string) (string, bool) {
	if region == "" || !e.authority.supportsRegion() {
		return "", false
	}
	u, err := url.Parse(e.token)
	if err != nil {
		return "", false
	}
	host := entra.RegionalHost(u.Hostname(), region)
	if port := u.Port(); port != "" && port != "443" {
		host = net.JoinHostPort(host, port)
	}
	u.Host = host
	return u.String(), true
}

// credentialRequest is what a credential needs to authenticate a request
// to tokenEndpoint (which may be regional): the assertion audience is e's
// global token endpoint.
func (e *endpoints) credentialRequest(clientID, tokenEndpoint string, clientClaims map[string]any) credential.Request {
	return credential.Request{
		ClientID:      clientID,
		Audience:      e.token,
		TokenEndpoint: tokenEndpoint,
		Kind:          e.authority.credentialKind(),
		Algorithms:    e.signingAlgs,
		AuthMethods:   e.authMethods,
		ClientClaims:  clientClaims,
	}
}

// anyTenant reports whether a's callers may come from any tenant: a
// common or organizations authority of Entra or External ID. (A consumers
// authority is the personal accounts' tenant only.)
func (a authority) anyTenant() bool {
	return (a.kind == kindEntra || a.kind == kindCIAM) &&
		(strings.EqualFold(a.tenant, tenantCommon) || strings.EqualFold(a.tenant, tenantOrganizations))
}

// tenantIDOf returns the tenant ID issuer names as the first segment of
// its path, lower-cased, when that is a GUID (Entra's
// https://login.microsoftonline.com/{tenant ID}/v2.0 and
// https://sts.windows.net/{tenant ID}/, B2C's and External ID's issuers),
// else "".
func tenantIDOf(issuer string) string {
	u, err := url.Parse(issuer)
	if err != nil {
		return ""
	}
	seg, _, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	if !isGUID(seg) {
		return ""
	}
	return strings.ToLower(seg)
}

// isGUID reports whether s is a GUID in its 8-4-4-4-12 hex form, as
// Entra's tenant IDs are.
func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// tenantIDTemplate is the placeholder of multi-tenant issuers.
const tenantIDTemplate = "{tenantid}"

// issuerForTenant returns issuer with its {tenantid} template
// (multi-tenant metadata, such as common's
// https://login.microsoftonline.com/{tenantid}/v2.0) replaced by tid, the
// tenant it may stand for (see tokenValidator.issuerTenant). An issuer
// without the template is returned as it is. tid must be a tenant ID
// (letters, digits, '-', '.' and '_'), so a token cannot make up an
// issuer of another shape.
func issuerForTenant(issuer, tid string) (string, error) {
	if !strings.Contains(issuer, tenantIDTemplate) {
		return issuer, nil
	}
	if !validSegment(tid) {
		return "", fmt.Errorf("flow: the token's tid %q is not a tenant ID", tid)
	}
	return strings.ReplaceAll(issuer, tenantIDTemplate, tid), nil
}
