package authtest

import (
	"net"
	"net/http"
	"net/url"
	"strings"
)

// serveOpenIDConfiguration is the OpenID Connect discovery document of
// each authority shape. For common and organizations the issuer holds the
// {tenantid} template, as Entra's does.
func (s *Server) serveOpenIDConfiguration(w http.ResponseWriter, r *http.Request, a *authority) {
	host := s.endpointHost(r)
	iss := s.issuerHost(r)
	doc := map[string]any{
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"claims_supported":                      []string{"sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"},
		"code_challenge_methods_supported":      []string{"plain", "S256"},
		"request_uri_parameter_supported":       false,
		"frontchannel_logout_supported":         true,
		"http_logout_supported":                 true,
	}
	switch a.kind {
	case kindEntra:
		tid := a.tid
		if tid == tenantCommon || tid == tenantOrganizations {
			tid = "{tenantid}"
		}
		base := host + "/" + a.tenant
		doc["issuer"] = iss + "/" + tid + "/v2.0"
		doc["token_endpoint"] = base + "/oauth2/v2.0/token"
		doc["authorization_endpoint"] = base + "/oauth2/v2.0/authorize"
		doc["device_authorization_endpoint"] = base + "/oauth2/v2.0/devicecode"
		doc["end_session_endpoint"] = base + "/oauth2/v2.0/logout"
		doc["jwks_uri"] = host + "/" + a.tenant + "/discovery/v2.0/keys"
		doc["token_endpoint_auth_methods_supported"] = []string{"client_secret_post", "private_key_jwt", "client_secret_basic"}
		doc["token_endpoint_auth_signing_alg_values_supported"] = []string{"RS256", "PS256"}
		doc["userinfo_endpoint"] = "https://graph.microsoft.com/oidc/userinfo"
		doc["kerberos_endpoint"] = base + "/kerberos"
		doc["tenant_region_scope"] = "NA"
		doc["cloud_instance_name"] = "microsoftonline.com"
		doc["cloud_graph_host_name"] = "graph.windows.net"
		doc["msgraph_host"] = "graph.microsoft.com"
		doc["rbac_url"] = "https://pas.windows.net"
	case kindB2C:
		base := host + a.base
		doc["issuer"] = iss + "/" + a.tid + "/v2.0/"
		doc["token_endpoint"] = base + "/oauth2/v2.0/token"
		doc["authorization_endpoint"] = base + "/oauth2/v2.0/authorize"
		doc["end_session_endpoint"] = base + "/oauth2/v2.0/logout"
		doc["jwks_uri"] = base + "/discovery/v2.0/keys"
		doc["token_endpoint_auth_methods_supported"] = []string{"client_secret_post", "client_secret_basic"}
		doc["claims_supported"] = []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "nonce", "name", "tfp", "oid"}
	case kindADFS:
		base := host + "/adfs"
		doc["issuer"] = iss + "/adfs"
		doc["token_endpoint"] = base + "/oauth2/token"
		doc["authorization_endpoint"] = base + "/oauth2/authorize"
		doc["device_authorization_endpoint"] = base + "/oauth2/devicecode"
		doc["end_session_endpoint"] = base + "/oauth2/logout"
		doc["jwks_uri"] = base + "/discovery/keys"
		doc["token_endpoint_auth_methods_supported"] = []string{"client_secret_post", "client_secret_basic", "private_key_jwt", "windows_client_authentication"}
		doc["token_endpoint_auth_signing_alg_values_supported"] = []string{"RS256"}
		doc["access_token_issuer"] = s.adfsAccessTokenIssuer(r)
		doc["subject_types_supported"] = []string{"pairwise"}
	case kindOIDC:
		base := host + "/oidc"
		doc["issuer"] = iss + "/oidc"
		doc["token_endpoint"] = base + "/token"
		doc["authorization_endpoint"] = base + "/authorize"
		doc["device_authorization_endpoint"] = base + "/device"
		doc["jwks_uri"] = base + "/keys"
		doc["end_session_endpoint"] = base + "/logout"
		doc["token_endpoint_auth_methods_supported"] = []string{"client_secret_basic", "private_key_jwt"}
		doc["token_endpoint_auth_signing_alg_values_supported"] = oidcSigningAlgs
		doc["grant_types_supported"] = []string{grantAuthorizationCode, grantClientCredentials, grantRefreshToken, grantPassword, grantDeviceCode, grantJWTBearer}
		doc["subject_types_supported"] = []string{"public"}
		if s.cfg.dpop {
			doc["dpop_signing_alg_values_supported"] = dpopAlgs
		}
		delete(doc, "frontchannel_logout_supported")
		delete(doc, "http_logout_supported")
	}
	w.Header().Set("Access-Control-Allow-Origin", "*")
	writeJSON(w, http.StatusOK, doc)
}

// serveKeys is the JWKS: the current and previous signing keys, without
// alg, as Entra publishes them.
func (s *Server) serveKeys(w http.ResponseWriter, r *http.Request, a *authority) {
	issuer := ""
	if a.kind == kindEntra {
		issuer = s.issuerHost(r) + "/{tenantid}/v2.0"
		if !isMultiTenant(a.tenant) {
			issuer = s.issuerHost(r) + "/" + a.tid + "/v2.0"
		}
	}
	var keys []jwk
	for _, k := range s.publishedKeys() {
		keys = append(keys, k.jwk(issuer))
	}
	w.Header().Set("Access-Control-Allow-Origin", "*")
	writeJSON(w, http.StatusOK, map[string]any{"keys": keys})
}

// cloudMetadata is one alias group of Entra's instance discovery.
type cloudMetadata struct {
	PreferredNetwork string   `json:"preferred_network"`
	PreferredCache   string   `json:"preferred_cache"`
	Aliases          []string `json:"aliases"`
}

// knownClouds mirrors Entra's instance discovery metadata.
var knownClouds = []cloudMetadata{
	{"login.microsoftonline.com", "login.windows.net", []string{"login.microsoftonline.com", "login.windows.net", "login.microsoft.com", "sts.windows.net"}},
	{"login.partner.microsoftonline.cn", "login.partner.microsoftonline.cn", []string{"login.partner.microsoftonline.cn", "login.chinacloudapi.cn"}},
	{"login.microsoftonline.de", "login.microsoftonline.de", []string{"login.microsoftonline.de"}},
	{"login.microsoftonline.us", "login.microsoftonline.us", []string{"login.microsoftonline.us", "login.usgovcloudapi.net"}},
	{"login-us.microsoftonline.com", "login-us.microsoftonline.com", []string{"login-us.microsoftonline.com"}},
	{"login.windows-ppe.net", "login.windows-ppe.net", []string{"login.windows-ppe.net", "sts.windows-ppe.net", "login.microsoft-ppe.com"}},
}

// serveInstanceDiscovery is Entra's instance discovery
// (/common/discovery/instance?api-version=1.1&authorization_endpoint=...):
// the tenant discovery endpoint of the authority asked about and every
// cloud's aliases. The server's own host (the loopback address, or a name
// given with WithHostNames) is listed as a cloud of its own; other hosts
// get invalid_instance.
func (s *Server) serveInstanceDiscovery(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ae := q.Get("authorization_endpoint")
	if ae == "" {
		s.writeOAuthError(w, r, kindEntra, oerr("invalid_request", 900144, "The request body must contain the following parameter: 'authorization_endpoint'."))
		return
	}
	u, err := url.Parse(ae)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		s.writeOAuthError(w, r, kindEntra, oerr("invalid_instance", 50049, "Unknown or invalid instance: the authorization_endpoint is not an absolute URL."))
		return
	}
	host := strings.ToLower(u.Host)
	meta := append([]cloudMetadata(nil), knownClouds...)
	known := false
	for _, c := range knownClouds {
		if containsFold(c.Aliases, hostOnly(host)) {
			known = true
		}
	}
	if _, ok := regionalHost(hostOnly(host)); ok {
		known = true
	}
	if !known && s.ownsHost(host) {
		meta = append(meta, cloudMetadata{host, host, []string{host}})
		known = true
	}
	if !known {
		s.writeOAuthError(w, r, kindEntra, oerr("invalid_instance", 50049, "Unknown or invalid instance."))
		return
	}
	tenant := "common"
	if segs := strings.Split(strings.Trim(u.Path, "/"), "/"); len(segs) > 0 && segs[0] != "" {
		tenant = segs[0]
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"tenant_discovery_endpoint": u.Scheme + "://" + u.Host + "/" + tenant + "/v2.0/.well-known/openid-configuration",
		"api-version":               "1.1",
		"metadata":                  meta,
	})
}

// ownsHost reports whether host (with its port, if any) names this
// server: its listener address, localhost on its port, or in TLS mode a
// name of its certificate that is not an Entra login host.
func (s *Server) ownsHost(host string) bool {
	addr := s.listener.Addr().String()
	_, port, _ := net.SplitHostPort(addr)
	if host == strings.ToLower(addr) || host == "localhost:"+port {
		return true
	}
	if !s.isTLS() {
		return false
	}
	h := hostOnly(host)
	for _, n := range s.cfg.hostNames {
		n = strings.ToLower(n)
		if n == h || (strings.HasPrefix(n, "*.") && strings.HasSuffix(h, n[1:])) {
			return true
		}
	}
	return strings.HasSuffix(h, ".b2clogin.com") || strings.HasSuffix(h, ".ciamlogin.com")
}

// AddFederatedDomain makes domain a federated domain: user realm
// discovery answers Federated for its users, with a WS-Trust federation
// to an AD FS at https://adfs.{domain} (which this server does not run),
// as Entra answers for a domain federated to AD FS. The password grant is
// not affected.
func (s *Server) AddFederatedDomain(domain string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.federated == nil {
		s.federated = map[string]bool{}
	}
	s.federated[strings.ToLower(domain)] = true
}

// serveUserRealm is Entra's user realm discovery
// (/common/userrealm/{username}?api-version=1.0): Federated for the
// domains of [Server.AddFederatedDomain], Managed for the domains of
// registered users, Unknown otherwise.
func (s *Server) serveUserRealm(w http.ResponseWriter, r *http.Request, username string) {
	_, domain, _ := strings.Cut(username, "@")
	domain = strings.ToLower(domain)
	accountType := "Unknown"
	s.mu.Lock()
	for _, u := range s.users {
		if _, d, ok := strings.Cut(strings.ToLower(u.Username), "@"); ok && d == domain {
			accountType = "Managed"
			break
		}
	}
	if s.federated[domain] {
		accountType = "Federated"
	}
	s.mu.Unlock()
	body := map[string]any{
		"ver":          "1.0",
		"account_type": accountType,
		"domain_name":  domain,
	}
	if accountType != "Unknown" {
		body["cloud_instance_name"] = "microsoftonline.com"
		body["cloud_audience_urn"] = "urn:federation:MicrosoftOnline"
	}
	if accountType == "Federated" {
		body["federation_protocol"] = "WSTrust"
		body["federation_metadata_url"] = "https://adfs." + domain + "/adfs/services/trust/mex"
		body["federation_active_auth_url"] = "https://adfs." + domain + "/adfs/services/trust/2005/usernamemixed"
	}
	writeJSON(w, http.StatusOK, body)
}
