package authtest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is a local Microsoft Entra ID compatible authority and protected
// resource. Make one with [NewServer] or [NewTLSServer]; register clients,
// users and APIs; point the code under test at [Server.Authority] (or at
// Entra's real host names through [Server.Client] in TLS mode).
//
// All methods are safe for concurrent use.
type Server struct {
	// URL is the server's base URL, http://127.0.0.1:port or
	// https://127.0.0.1:port, with no trailing slash.
	URL string

	cfg       config
	clock     clock
	listener  net.Listener
	http      *http.Server
	tls       *tlsMaterial
	transport *http.Transport
	logger    *slog.Logger
	resource  http.Handler
	active    sync.WaitGroup
	conns     connTracker
	closeOnce sync.Once

	mu            sync.Mutex
	closed        bool
	clients       map[string]*Client
	users         map[string]*User
	apis          map[string]*API
	identities    []*ManagedIdentity
	tenantNames   map[string]string
	keyGen        int
	requests      []*Request
	faults        []*faultEntry
	codes         map[string]*authCode
	refreshTokens map[string]*refreshGrant
	devices       map[string]*deviceGrant // by device_code
	userCodes     map[string]*deviceGrant // by user_code
	jtis          map[string]time.Time    // used assertion jti → its exp
	issued        map[string]issue        // uti → when the access token was issued
	seq           uint64                  // orders issuances and revocations
	revocations   []revocation
	rtRevocations []revocation
	authContexts  map[string][]string
	acrRules      map[string]acrRule
	consents      map[string]bool // client|user oid, or client|tid for admin consent
	session       string          // username signed in to the "browser"
	federated     map[string]bool // domains user realm discovery calls Federated
	region        string
	dpop          dpopState

	// Managed identity stand-ins (managedidentity.go).
	identityHeader string
	miTokens       map[string]*miToken // the tokens each source keeps
	arcKeyDir      string
	ownArcDir      bool     // arcKeyDir was made by the server: Close removes it
	arcKeys        []arcKey // the key files written, oldest first
}

// NewServer starts a plain HTTP server on a random port of 127.0.0.1.
//
// tb may be nil (for programs such as a quick start); with a tb the server
// closes at tb.Cleanup and reports every error response it sends with
// tb.Logf (codes and descriptions only: secrets are never logged). It
// fails the test with tb.Fatal if the server cannot start, and panics
// when tb is nil.
func NewServer(tb testing.TB, opts ...Option) *Server {
	return newServer(tb, false, opts)
}

// NewTLSServer starts an HTTPS server on a random port of 127.0.0.1, with
// a certificate authority of its own. Its certificate covers the loopback
// addresses, [EntraHostNames] and the names given with [WithHostNames].
// [Server.Client] trusts it and connects every host to it, so clients can
// use Entra's real URLs (https://login.microsoftonline.com/{tenant},
// https://westus2.login.microsoft.com/..., https://graph.microsoft.com/v1.0/me)
// and known-host and regional logic can be tested. [Server.Authority]
// returns https://login.microsoftonline.com/{tenant}.
func NewTLSServer(tb testing.TB, opts ...Option) *Server {
	return newServer(tb, true, opts)
}

// Start starts a server for a program (such as cmd/authtest) and returns
// an error instead of panicking when it cannot listen. It speaks plain
// HTTP unless [WithTLS] is given. The caller must Close it.
func Start(opts ...Option) (*Server, error) {
	return start(nil, false, opts)
}

func newServer(tb testing.TB, useTLS bool, opts []Option) *Server {
	if tb != nil {
		tb.Helper()
	}
	s, err := start(tb, useTLS, opts)
	if err != nil {
		if tb != nil {
			tb.Fatal(err)
		}
		panic(err)
	}
	if tb != nil {
		tb.Cleanup(s.Close)
	}
	return s
}

func start(tb testing.TB, useTLS bool, opts []Option) (*Server, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	useTLS = useTLS || cfg.tls
	s := &Server{
		cfg:           cfg,
		clients:       map[string]*Client{},
		users:         map[string]*User{},
		apis:          map[string]*API{},
		tenantNames:   map[string]string{},
		codes:         map[string]*authCode{},
		refreshTokens: map[string]*refreshGrant{},
		devices:       map[string]*deviceGrant{},
		userCodes:     map[string]*deviceGrant{},
		jtis:          map[string]time.Time{},
		issued:        map[string]issue{},
		authContexts:  map[string][]string{},
		acrRules:      map[string]acrRule{},
		consents:      map[string]bool{},
		region:        cfg.region,

		identityHeader: newIdentityHeader(),
		miTokens:       map[string]*miToken{},
		arcKeyDir:      cfg.arcKeyDir,
	}
	s.clock.base = cfg.clock
	switch {
	case cfg.logger != nil:
		s.logger = cfg.logger
	case tb != nil:
		s.logger = slog.New(slog.NewTextHandler(tbWriter{tb}, &slog.HandlerOptions{
			ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
				if a.Key == slog.TimeKey {
					return slog.Attr{}
				}
				return a
			},
		}))
	default:
		s.logger = slog.New(slog.DiscardHandler)
	}
	if _, err := poolKey(0); err != nil {
		return nil, err
	}
	if !cfg.noDefaultAPIs {
		s.addDefaultAPIs()
	}
	s.resource = http.HandlerFunc(s.serveResource)

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return nil, fmt.Errorf("authtest: listen on %s: %w", cfg.addr, err)
	}
	s.listener = ln
	s.http = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
		ConnState:         s.conns.track,
	}
	scheme := "http"
	if useTLS {
		m, err := newTLSMaterial(cfg.hostNames)
		if err != nil {
			ln.Close()
			return nil, err
		}
		s.tls = m
		s.http.TLSConfig = &tls.Config{Certificates: []tls.Certificate{m.leaf}, MinVersion: tls.VersionTLS12}
		ln = tls.NewListener(ln, s.http.TLSConfig)
		scheme = "https"
	}
	s.URL = scheme + "://" + s.listener.Addr().String()
	s.transport = s.newTransport()
	go func() { _ = s.http.Serve(ln) }()
	return s, nil
}

// connTracker counts the server's open connections, so that Close can
// wait for their goroutines to end.
type connTracker struct {
	mu   sync.Mutex
	cond *sync.Cond
	open map[net.Conn]bool
}

func (c *connTracker) track(conn net.Conn, state http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open == nil {
		c.open = map[net.Conn]bool{}
		c.cond = sync.NewCond(&c.mu)
	}
	switch state {
	case http.StateNew:
		c.open[conn] = true
	case http.StateClosed, http.StateHijacked:
		delete(c.open, conn)
		c.cond.Broadcast()
	}
}

func (c *connTracker) wait() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.open) > 0 {
		c.cond.Wait()
	}
}

// tbWriter writes log lines with tb.Logf.
type tbWriter struct{ tb testing.TB }

func (w tbWriter) Write(p []byte) (int, error) {
	w.tb.Logf("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// Close shuts the server down: it closes the listener and every
// connection, waits for running handlers to return, and closes the idle
// connections of [Server.Transport]. It may be called more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		_ = s.http.Close()
		s.active.Wait()
		s.conns.wait()
		s.transport.CloseIdleConnections()
		s.mu.Lock()
		dir, own := s.arcKeyDir, s.ownArcDir
		s.mu.Unlock()
		if own {
			_ = os.RemoveAll(dir)
		}
	})
}

// isTLS reports whether the server speaks HTTPS.
func (s *Server) isTLS() bool { return s.tls != nil }

// Authority returns the authority URL for tenant (a tenant ID, a domain,
// common, organizations or consumers): in TLS mode
// https://login.microsoftonline.com/{tenant}, reachable through
// [Server.Client]; otherwise URL/{tenant}.
func (s *Server) Authority(tenant string) string {
	if s.isTLS() {
		return "https://" + publicCloudHost + "/" + tenant
	}
	return s.URL + "/" + tenant
}

// Issuer returns the issuer (iss) of tokens issued for tenant through
// [Server.Authority]: {host}/{tenant ID}/v2.0, with host
// https://login.microsoftonline.com in TLS mode (for requests reaching any
// public-cloud alias or regional host; a sovereign cloud's host gives its
// own) and URL in plain mode. For common and organizations the issuer is
// the template {host}/{tenantid}/v2.0, as in the discovery document.
func (s *Server) Issuer(tenant string) string {
	base := s.URL
	if s.isTLS() {
		base = "https://" + publicCloudHost
	}
	tid := s.TenantID(tenant)
	if tid == tenantCommon || tid == tenantOrganizations {
		tid = "{tenantid}"
	}
	return base + "/" + tid + "/v2.0"
}

// ADFSAuthority returns the authority URL of the server's AD FS shape,
// URL/adfs.
func (s *Server) ADFSAuthority() string { return s.URL + "/adfs" }

// OIDCIssuer returns the issuer of the server's plain OpenID Connect
// authority shape, URL/oidc: no Entra paths, metadata at
// URL/oidc/.well-known/openid-configuration, secrets accepted with HTTP
// Basic authentication only.
func (s *Server) OIDCIssuer() string { return s.URL + "/oidc" }

// B2CAuthority returns the authority URL of an Azure AD B2C policy: in TLS
// mode https://{name}.b2clogin.com/{tenant}/{policy} where name is the
// first label of tenant, otherwise URL/{tenant}/{policy}. The policy must
// start with "B2C_" (any case).
func (s *Server) B2CAuthority(tenant, policy string) string {
	if s.isTLS() {
		name, _, _ := strings.Cut(tenant, ".")
		return "https://" + strings.ToLower(name) + ".b2clogin.com/" + tenant + "/" + policy
	}
	return s.URL + "/" + tenant + "/" + policy
}

// Resource returns the protected resource as a handler, to mount in a
// server of your own. The server serves it itself for /v1.0/... and
// /resource/... (so https://graph.microsoft.com/v1.0/me reaches it in TLS
// mode). See [Server.Revoke], [Server.RequireAuthContext] and
// [Server.RequireACR] for the challenges it sends.
func (s *Server) Resource() http.Handler { return s.resource }

// logProblem reports an error response to the server's log.
func (s *Server) logProblem(r *http.Request, status int, msg string) {
	s.logger.LogAttrs(r.Context(), slog.LevelWarn, "authtest: error response",
		slog.String("method", r.Method), slog.String("path", r.URL.Path),
		slog.Int("status", status), slog.String("error", msg))
}

// ServeHTTP routes a request to the endpoint its path names.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	closed := s.closed
	if !closed {
		s.active.Add(1)
	}
	s.mu.Unlock()
	if closed {
		http.Error(w, "authtest: server closed", http.StatusServiceUnavailable)
		return
	}
	defer s.active.Done()

	rt := route(r.URL.Path)
	if rt.endpoint == "" {
		s.logProblem(r, http.StatusNotFound, "no such endpoint")
		http.NotFound(w, r)
		return
	}
	if rt.auth != nil && (rt.auth.kind == kindEntra || rt.auth.kind == kindB2C) {
		rt.auth.tid = s.TenantID(rt.auth.tenant)
	}
	rec, r := s.record(w, r, rt)
	sw := &statusWriter{ResponseWriter: w}
	defer func() { s.finish(rec, sw.status) }()
	if f := s.takeFault(rt.endpoint); f != nil {
		s.mu.Lock()
		rec.Fault = true
		s.mu.Unlock()
		if s.applyFault(sw, r, rt, f) {
			return
		}
	}
	switch rt.endpoint {
	case EndpointToken:
		s.serveToken(sw, r, rt.auth)
	case EndpointAuthorize:
		s.serveAuthorize(sw, r, rt.auth)
	case EndpointDeviceCode:
		s.serveDeviceCode(sw, r, rt.auth)
	case EndpointOpenIDConfiguration:
		s.serveOpenIDConfiguration(sw, r, rt.auth)
	case EndpointKeys:
		s.serveKeys(sw, r, rt.auth)
	case EndpointDiscovery:
		s.serveInstanceDiscovery(sw, r)
	case EndpointUserRealm:
		s.serveUserRealm(sw, r, rt.param)
	case EndpointAdminConsent:
		s.serveAdminConsent(sw, r, rt.auth)
	case EndpointLogout:
		s.serveLogout(sw, r, rt.auth)
	case EndpointDeviceLogin:
		s.serveDeviceLogin(sw, r)
	case EndpointRegion:
		s.serveRegion(sw, r)
	case EndpointManagedIdentity:
		s.serveManagedIdentity(sw, r)
	case EndpointAppService:
		s.serveAppService(sw, r)
	case EndpointAzureArc:
		s.serveAzureArc(sw, r)
	case EndpointCloudShell:
		s.serveCloudShell(sw, r)
	case EndpointServiceFabric:
		s.serveServiceFabric(sw, r)
	case EndpointAzureML:
		s.serveAzureML(sw, r)
	case EndpointResource:
		s.resource.ServeHTTP(sw, r)
	}
}

// statusWriter remembers the status code written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (to hijack it).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Endpoint names, as [Request.Endpoint] and [Fault.Endpoint] use them.
const (
	EndpointToken               = "token"                // /{tenant}/oauth2/v2.0/token and the other shapes' token endpoints
	EndpointAuthorize           = "authorize"            // /{tenant}/oauth2/v2.0/authorize
	EndpointDeviceCode          = "devicecode"           // /{tenant}/oauth2/v2.0/devicecode
	EndpointOpenIDConfiguration = "openid-configuration" // /{tenant}/v2.0/.well-known/openid-configuration
	EndpointKeys                = "keys"                 // /{tenant}/discovery/v2.0/keys
	EndpointDiscovery           = "discovery"            // /common/discovery/instance (instance discovery)
	EndpointUserRealm           = "userrealm"            // /common/userrealm/{username}
	EndpointAdminConsent        = "adminconsent"         // /{tenant}/adminconsent, /{tenant}/v2.0/adminconsent
	EndpointLogout              = "logout"               // /{tenant}/oauth2/v2.0/logout, /oidc/logout
	EndpointDeviceLogin         = "devicelogin"          // /devicelogin, the page where a user enters a device code
	EndpointRegion              = "region"               // /metadata/instance/compute/location (IMDS)
	EndpointManagedIdentity     = "managed-identity"     // /metadata/identity/oauth2/token (IMDS)
	EndpointAppService          = "app-service"          // /msi/token (App Service and Functions managed identity)
	EndpointAzureArc            = "azure-arc"            // /arc/metadata/identity/oauth2/token (Azure Arc managed identity)
	EndpointCloudShell          = "cloud-shell"          // /cloudshell/oauth2/token (Cloud Shell managed identity)
	EndpointServiceFabric       = "service-fabric"       // /servicefabric/metadata/identity/oauth2/token (Service Fabric)
	EndpointAzureML             = "azure-ml"             // /azureml/msi/token (Azure Machine Learning managed identity)
	EndpointResource            = "resource"             // /v1.0/..., /resource/...
)

// authorityKind is the shape of authority a path names.
type authorityKind int

const (
	kindEntra authorityKind = iota
	kindB2C
	kindADFS
	kindOIDC
)

// authority is the authority a request's path names.
type authority struct {
	kind   authorityKind
	tenant string // the tenant as the path gave it (Entra, B2C)
	policy string // B2C policy
	base   string // the path prefix of the authority, such as /contoso.com
	tid    string // the tenant ID tenant stands for
}

type routed struct {
	endpoint string
	auth     *authority
	param    string
}

// route maps a path to an endpoint.
func route(path string) routed {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	if len(segs) == 0 || segs[0] == "" {
		return routed{}
	}
	eq := func(rest []string, want ...string) bool {
		if len(rest) != len(want) {
			return false
		}
		for i := range want {
			if !strings.EqualFold(rest[i], want[i]) {
				return false
			}
		}
		return true
	}
	switch strings.ToLower(segs[0]) {
	case "devicelogin":
		if len(segs) == 1 {
			return routed{endpoint: EndpointDeviceLogin}
		}
		return routed{}
	case "metadata":
		switch {
		case eq(segs, "metadata", "instance", "compute", "location"):
			return routed{endpoint: EndpointRegion}
		case eq(segs, "metadata", "identity", "oauth2", "token"):
			return routed{endpoint: EndpointManagedIdentity}
		}
		return routed{}
	case "v1.0", "resource":
		return routed{endpoint: EndpointResource}
	case "msi", "arc", "cloudshell", "servicefabric", "azureml":
		return routed{endpoint: managedIdentityRoute(segs, eq)}
	case "adfs":
		a := &authority{kind: kindADFS, base: "/adfs"}
		rest := segs[1:]
		switch {
		case eq(rest, ".well-known", "openid-configuration"):
			return routed{endpoint: EndpointOpenIDConfiguration, auth: a}
		case eq(rest, "discovery", "keys"):
			return routed{endpoint: EndpointKeys, auth: a}
		case eq(rest, "oauth2", "token"):
			return routed{endpoint: EndpointToken, auth: a}
		case eq(rest, "oauth2", "authorize"):
			return routed{endpoint: EndpointAuthorize, auth: a}
		case eq(rest, "oauth2", "devicecode"):
			return routed{endpoint: EndpointDeviceCode, auth: a}
		case eq(rest, "oauth2", "logout"):
			return routed{endpoint: EndpointLogout, auth: a}
		}
		return routed{}
	case "oidc":
		a := &authority{kind: kindOIDC, base: "/oidc"}
		rest := segs[1:]
		switch {
		case eq(rest, ".well-known", "openid-configuration"):
			return routed{endpoint: EndpointOpenIDConfiguration, auth: a}
		case eq(rest, "keys"):
			return routed{endpoint: EndpointKeys, auth: a}
		case eq(rest, "token"):
			return routed{endpoint: EndpointToken, auth: a}
		case eq(rest, "authorize"):
			return routed{endpoint: EndpointAuthorize, auth: a}
		case eq(rest, "device"):
			return routed{endpoint: EndpointDeviceCode, auth: a}
		case eq(rest, "logout"):
			return routed{endpoint: EndpointLogout, auth: a}
		}
		return routed{}
	}
	if len(segs) >= 3 && strings.EqualFold(segs[0], "common") {
		switch {
		case eq(segs, "common", "discovery", "instance"):
			return routed{endpoint: EndpointDiscovery}
		case len(segs) == 3 && strings.EqualFold(segs[1], "userrealm"):
			return routed{endpoint: EndpointUserRealm, param: segs[2]}
		}
	}
	// B2C: /tfp/{tenant}/{policy}/... or /{tenant}/{policy}/... with a
	// policy named B2C_....
	if len(segs) >= 4 && strings.EqualFold(segs[0], "tfp") {
		a := &authority{kind: kindB2C, tenant: segs[1], policy: segs[2], base: "/" + strings.Join(segs[:3], "/")}
		return b2cRoute(a, segs[3:], eq)
	}
	if len(segs) >= 3 && strings.HasPrefix(strings.ToLower(segs[1]), "b2c_") {
		a := &authority{kind: kindB2C, tenant: segs[0], policy: segs[1], base: "/" + strings.Join(segs[:2], "/")}
		return b2cRoute(a, segs[2:], eq)
	}
	a := &authority{kind: kindEntra, tenant: segs[0], base: "/" + segs[0]}
	rest := segs[1:]
	switch {
	case eq(rest, "v2.0", ".well-known", "openid-configuration"), eq(rest, ".well-known", "openid-configuration"):
		return routed{endpoint: EndpointOpenIDConfiguration, auth: a}
	case eq(rest, "discovery", "v2.0", "keys"), eq(rest, "discovery", "keys"):
		return routed{endpoint: EndpointKeys, auth: a}
	case eq(rest, "oauth2", "v2.0", "token"):
		return routed{endpoint: EndpointToken, auth: a}
	case eq(rest, "oauth2", "v2.0", "authorize"):
		return routed{endpoint: EndpointAuthorize, auth: a}
	case eq(rest, "oauth2", "v2.0", "devicecode"):
		return routed{endpoint: EndpointDeviceCode, auth: a}
	case eq(rest, "oauth2", "v2.0", "logout"):
		return routed{endpoint: EndpointLogout, auth: a}
	case eq(rest, "adminconsent"), eq(rest, "v2.0", "adminconsent"):
		return routed{endpoint: EndpointAdminConsent, auth: a}
	case eq(rest, "discovery", "instance"):
		return routed{endpoint: EndpointDiscovery}
	}
	return routed{}
}

func b2cRoute(a *authority, rest []string, eq func([]string, ...string) bool) routed {
	switch {
	case eq(rest, "v2.0", ".well-known", "openid-configuration"):
		return routed{endpoint: EndpointOpenIDConfiguration, auth: a}
	case eq(rest, "discovery", "v2.0", "keys"):
		return routed{endpoint: EndpointKeys, auth: a}
	case eq(rest, "oauth2", "v2.0", "token"):
		return routed{endpoint: EndpointToken, auth: a}
	case eq(rest, "oauth2", "v2.0", "authorize"):
		return routed{endpoint: EndpointAuthorize, auth: a}
	case eq(rest, "oauth2", "v2.0", "logout"):
		return routed{endpoint: EndpointLogout, auth: a}
	}
	return routed{}
}

// Hosts of Entra's clouds: the host an issuer names for requests reaching
// any alias of the cloud, and the aliases.
const publicCloudHost = "login.microsoftonline.com"

var cloudHosts = map[string]string{
	"login.microsoftonline.com":        publicCloudHost,
	"login.microsoft.com":              publicCloudHost,
	"login.windows.net":                publicCloudHost,
	"sts.windows.net":                  publicCloudHost,
	"login.microsoftonline.us":         "login.microsoftonline.us",
	"login.usgovcloudapi.net":          "login.microsoftonline.us",
	"login.chinacloudapi.cn":           "login.partner.microsoftonline.cn",
	"login.partner.microsoftonline.cn": "login.partner.microsoftonline.cn",
}

// regionalParents are the hosts whose subdomains are regional hosts.
var regionalParents = []string{"login.microsoft.com", "login.microsoftonline.us", "login.partner.microsoftonline.cn", "login.chinacloudapi.cn"}

func hostOnly(hostport string) string {
	h := hostport
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		h = host
	}
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

// regionalHost reports whether host is an Entra regional host such as
// westus2.login.microsoft.com, and returns its cloud's global host.
func regionalHost(host string) (string, bool) {
	for _, p := range regionalParents {
		if strings.HasSuffix(host, "."+p) && !strings.Contains(strings.TrimSuffix(host, "."+p), ".") {
			return cloudHosts[p], true
		}
	}
	return "", false
}

// issuerHost returns the scheme and host that issuers, endpoints and
// assertion audiences name for r: the server's URL in plain mode; in TLS
// mode the cloud's global host for Entra hosts (aliases and regional
// hosts included) and the request's host otherwise.
func (s *Server) issuerHost(r *http.Request) string {
	if !s.isTLS() {
		return s.URL
	}
	h := hostOnly(r.Host)
	if g, ok := cloudHosts[h]; ok {
		return "https://" + g
	}
	if g, ok := regionalHost(h); ok {
		return "https://" + g
	}
	if r.Host == "" {
		return s.URL
	}
	return "https://" + strings.ToLower(r.Host)
}

// endpointHost returns the scheme and host the discovery document's
// endpoints name for r: the host the request reached (so a client that
// came in through an alias keeps using it), the server's URL in plain
// mode.
func (s *Server) endpointHost(r *http.Request) string {
	if !s.isTLS() || r.Host == "" {
		return s.URL
	}
	return "https://" + strings.ToLower(r.Host)
}

// readBody reads at most n bytes of r's body.
func readBody(r *http.Request, n int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, n+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > n {
		return nil, errors.New("body too large")
	}
	return b, nil
}

// sleepCtx waits d or until ctx ends, and reports whether d elapsed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
