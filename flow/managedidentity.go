package flow

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bearerhttp/bearer"
	"github.com/bearerhttp/bearer/cache"
	"github.com/bearerhttp/bearer/internal/oauth"
)

// ManagedIdentitySource is where a managed identity's tokens come from:
// the service of the Azure host the program runs on. [NewManagedIdentity]
// detects it from the environment, as MSAL does.
type ManagedIdentitySource string

// The managed identity sources, in the order MSAL detects them (see
// [NewManagedIdentity]).
const (
	// SourceServiceFabric is Service Fabric's managed identity token
	// service: IDENTITY_ENDPOINT (https), IDENTITY_HEADER and
	// IDENTITY_SERVER_THUMBPRINT are set.
	SourceServiceFabric ManagedIdentitySource = "ServiceFabric"
	// SourceAppService is App Service, Azure Functions, Container Apps and
	// Azure Automation: IDENTITY_ENDPOINT and IDENTITY_HEADER are set.
	SourceAppService ManagedIdentitySource = "AppService"
	// SourceAzureML is Azure Machine Learning: MSI_ENDPOINT and MSI_SECRET
	// are set.
	SourceAzureML ManagedIdentitySource = "AzureML"
	// SourceCloudShell is Azure Cloud Shell: MSI_ENDPOINT is set, without
	// MSI_SECRET.
	SourceCloudShell ManagedIdentitySource = "CloudShell"
	// SourceAzureArc is an Azure Arc-enabled server: IDENTITY_ENDPOINT and
	// IMDS_ENDPOINT are set, or the Arc agent (himds) is installed.
	SourceAzureArc ManagedIdentitySource = "AzureArc"
	// SourceIMDS is the Azure instance metadata service of virtual
	// machines, scale sets and AKS nodes: the default when nothing else is
	// detected.
	SourceIMDS ManagedIdentitySource = "IMDS"
)

// DefaultIMDSEndpoint is the Azure instance metadata service asked for
// managed identity tokens, unless [WithIMDSEndpoint] or
// AZURE_POD_IDENTITY_AUTHORITY_HOST says otherwise.
const DefaultIMDSEndpoint = "http://169.254.169.254"

// Where managed identity tokens are cached, as MSAL Go caches them: the
// public cloud's host and the realm "managed_identity", with the
// identity's ID (or "system_assigned_managed_identity") as client ID.
const (
	miEnvironment    = "login.microsoftonline.com"
	miRealm          = "managed_identity"
	miSystemAssigned = "system_assigned_managed_identity"
)

// miKind is how a managed identity is named.
type miKind int

const (
	miSystem     miKind = iota // system-assigned
	miClientID                 // user-assigned, by client ID
	miObjectID                 // user-assigned, by object (principal) ID
	miResourceID               // user-assigned, by Azure resource ID
)

func (k miKind) String() string {
	switch k {
	case miClientID:
		return "client ID"
	case miObjectID:
		return "object ID"
	case miResourceID:
		return "resource ID"
	}
	return "system-assigned"
}

// miConfig is what the managed identity options set.
type miConfig struct {
	kind  miKind
	id    string // the user-assigned identity's ID
	given bool   // a WithUserAssigned… option was given

	imdsEndpoint string // WithIMDSEndpoint; "" means the environment's, else DefaultIMDSEndpoint

	// Test seams, reached by this package's tests only.
	arcKeyDir string // the directory Azure Arc key files must be in; "" means the platform's
	himdsPath string // the Arc agent whose presence means Azure Arc; "" means the platform's
}

// WithUserAssignedClientID makes [NewManagedIdentity] use the
// user-assigned managed identity whose client (application) ID is id,
// instead of the system-assigned one. The last of the WithUserAssigned…
// options wins. Used by managed identity.
func WithUserAssignedClientID(id string) Option {
	return func(c *config) { c.mi.kind, c.mi.id, c.mi.given = miClientID, id, true }
}

// WithUserAssignedObjectID makes [NewManagedIdentity] use the
// user-assigned managed identity whose object (principal) ID is id. Azure
// Machine Learning does not take it. Used by managed identity.
func WithUserAssignedObjectID(id string) Option {
	return func(c *config) { c.mi.kind, c.mi.id, c.mi.given = miObjectID, id, true }
}

// WithUserAssignedResourceID makes [NewManagedIdentity] use the
// user-assigned managed identity whose Azure resource ID is id
// (/subscriptions/…/providers/Microsoft.ManagedIdentity/userAssignedIdentities/…).
// Azure Machine Learning does not take it. Used by managed identity.
func WithUserAssignedResourceID(id string) Option {
	return func(c *config) { c.mi.kind, c.mi.id, c.mi.given = miResourceID, id, true }
}

// WithIMDSEndpoint sets the Azure instance metadata service asked for
// managed identity tokens: its scheme and host, such as
// http://169.254.169.254 (the path /metadata/identity/oauth2/token is
// added). Tests point it at a local server. The default is the
// environment variable AZURE_POD_IDENTITY_AUTHORITY_HOST, as MSAL honours
// it, else [DefaultIMDSEndpoint]. The other sources' endpoints come from
// the environment variables their platforms set (IDENTITY_ENDPOINT,
// MSI_ENDPOINT; see [NewManagedIdentity]). Used by managed identity.
func WithIMDSEndpoint(endpointURL string) Option {
	return func(c *config) { c.mi.imdsEndpoint = endpointURL }
}

// ManagedIdentity gets tokens for an Azure managed identity from the
// service of the host it runs on: no secret, no certificate. It is MSAL's
// ManagedIdentityClient.
//
// Its tokens are kept in its token cache and served as [Confidential]'s
// are: until the last min(5 min, lifetime/10) of their life, refreshed in
// the background past their RefreshOn (refresh_in when the source sends
// one, else half the lifetime of tokens living two hours or more: a 24
// hour IMDS token is refreshed after 12 hours), with a backoff after
// failures; concurrent identical calls share one request.
//
// A ManagedIdentity is safe for concurrent use.
type ManagedIdentity struct {
	*app
	src       ManagedIdentitySource
	kind      miKind
	id        string
	endpoint  string // the token endpoint (IMDS: with its path)
	secret    string // IDENTITY_HEADER or MSI_SECRET, sent as a header
	mlClient  string // Azure ML: DEFAULT_IDENTITY_CLIENT_ID
	arcDir    string // Azure Arc: the directory key files must be in
	caps      string // the capabilities, comma-separated (xms_cc)
	miWire    *oauth.Client
	probeIMDS bool        // NewDefault: IMDS chosen by default is probed before first use
	imdsSeen  atomic.Bool // the instance metadata service answered a probe

	scopeSlices sync.Map // resource → []string{resource} (see scopesOf)
	scopeCount  atomic.Int64

	forced forcedRefreshes // of its source's invalid_token recoveries
}

// NewManagedIdentity returns a client of the program's managed identity:
// the system-assigned one, or the user-assigned one named by
// [WithUserAssignedClientID], [WithUserAssignedObjectID] or
// [WithUserAssignedResourceID].
//
// The source is detected from the environment as MSAL does, in this
// order:
//
//   - IDENTITY_ENDPOINT and IDENTITY_HEADER with IDENTITY_SERVER_THUMBPRINT:
//     [SourceServiceFabric]; the endpoint must be https, and its TLS
//     certificate is pinned by that SHA-1 thumbprint instead of being
//     verified against the system's roots (which is why it needs
//     [WithHTTPClient]'s client to have an *http.Transport);
//   - IDENTITY_ENDPOINT and IDENTITY_HEADER: [SourceAppService];
//   - MSI_ENDPOINT with MSI_SECRET: [SourceAzureML]; without: [SourceCloudShell];
//   - IDENTITY_ENDPOINT and IMDS_ENDPOINT, or the Azure Arc agent installed
//     (/opt/azcmagent/bin/himds, %ProgramData%\AzureConnectedMachineAgent\himds.exe):
//     [SourceAzureArc], at IDENTITY_ENDPOINT, else
//     http://127.0.0.1:40342/metadata/identity/oauth2/token; a key file its
//     challenge names is read only from the agent's key directory
//     (/var/opt/azcmagent/tokens, %ProgramData%\AzureConnectedMachineAgent\Tokens),
//     only a regular *.key file of at most 4096 bytes;
//   - otherwise [SourceIMDS], at AZURE_POD_IDENTITY_AUTHORITY_HOST or
//     [WithIMDSEndpoint] or [DefaultIMDSEndpoint].
//
// Every endpoint is thus set by the environment (or [WithIMDSEndpoint]);
// [WithGetenv] replaces the environment. An endpoint must be an http(s)
// URL without user information or fragment. Service Fabric and Cloud
// Shell have no user-assigned identity, and Azure Machine Learning names
// one by client ID only: asking otherwise fails here, as in MSAL Go. An
// Azure Arc agent that does not confirm the user-assigned identity asked
// for in its answer (an agent too old to know them answers for the
// system-assigned one) fails the call. [WithCapabilities] are sent where
// the source takes them (App Service, Service Fabric: xms_cc).
//
// Nothing is sent until the first call. [WithAuthority] and the other
// authority options do not apply.
func NewManagedIdentity(opts ...Option) (*ManagedIdentity, error) {
	cfg, err := newConfig(opts...)
	if err != nil {
		return nil, err
	}
	return newManagedIdentity(cfg)
}

// newManagedIdentity is NewManagedIdentity with its options applied.
func newManagedIdentity(cfg *config) (*ManagedIdentity, error) {
	if cfg.mi.kind != miSystem && strings.TrimSpace(cfg.mi.id) == "" {
		return nil, fmt.Errorf("%w: managed identity: the user-assigned %s is empty", ErrInvalidOption, cfg.mi.kind)
	}
	m := &ManagedIdentity{kind: cfg.mi.kind, id: strings.TrimSpace(cfg.mi.id)}
	if err := m.detect(cfg); err != nil {
		return nil, err
	}
	if len(cfg.capabilities) > 0 {
		m.caps = strings.Join(cfg.capabilities, ",")
	}
	cacheID := miSystemAssigned
	if m.kind != miSystem {
		cacheID = m.id
	}
	a, err := newApp(cacheID, cfg)
	if err != nil {
		return nil, err
	}
	m.app = a
	if m.miWire, err = m.wireFor(cfg); err != nil {
		return nil, err
	}
	m.log.debug(context.Background(), "flow: managed identity source detected",
		slog.String("source", string(m.src)), slog.String("endpoint", m.endpoint),
		slog.String("identity", m.kind.String()), m.log.pii("identity_id", m.id))
	return m, nil
}

// Kind returns the source the managed identity's tokens come from.
func (m *ManagedIdentity) Kind() ManagedIdentitySource { return m.src }

// AcquireToken returns a token of the managed identity for resource, an
// Azure resource such as "https://management.azure.com" or one scope of
// it ("https://management.azure.com/.default": the "/.default" suffix is
// removed, as MSAL does).
//
// The token comes from the cache when a usable one is there, unless the
// call has [Claims] or [ForceRefresh]: then it comes from the source and
// replaces the cached one. Managed identity sources take no claims
// request; with [Claims] (the answer to a claims challenge), App Service
// and Service Fabric are sent the SHA-256 of the cached token
// (token_sha256_to_refresh) so that they replace it instead of answering
// it again, as MSAL does; the other sources are just asked again. Other
// call options fail the call with an error wrapping [ErrInvalidOption].
//
// A source's error response is an [*Error]; the error names the source.
func (m *ManagedIdentity) AcquireToken(ctx context.Context, resource string, opts ...CallOption) (Result, error) {
	cc, err := newCallConfig(opts...)
	if err != nil {
		return Result{}, err
	}
	if err := m.checkCallOptions(cc); err != nil {
		return Result{}, err
	}
	return m.acquire(ctx, resource, cc)
}

// checkCallOptions refuses the call options a managed identity does not
// use: all but Claims and ForceRefresh.
func (m *ManagedIdentity) checkCallOptions(cc callConfig) error {
	var names []string
	add := func(set bool, name string) {
		if set {
			names = append(names, name)
		}
	}
	add(cc.tenant != "", "Tenant")
	add(cc.authority != "", "Authority")
	add(cc.loginHint != "", "LoginHint")
	add(cc.domainHint != "", "DomainHint")
	add(cc.prompt != "", "Prompt")
	add(cc.state != "", "State")
	add(cc.hasMaxAge, "MaxAge")
	add(cc.responseMode != "", "ResponseMode")
	if len(names) > 0 {
		return fmt.Errorf("%w: ManagedIdentity.AcquireToken does not use %s", ErrInvalidOption, strings.Join(names, ", "))
	}
	return nil
}

// Source returns a [bearer.TokenSource] of the managed identity's tokens:
// each Token call is [ManagedIdentity.AcquireToken] for the request's one
// scope (a resource or resource/.default), with its Claims and
// ForceRefresh. A request with no scope, more than one, or a TenantID
// fails (a managed identity belongs to one tenant). A step-up challenge
// fails with an error wrapping [ErrInteractionRequired]: there is no user.
// Tokens are cached by the managed identity, so a [bearer.Transport]
// needs no [bearer.ReuseTokenSource] in front of it.
//
// Forced refreshes answering [bearer.Transport]'s invalid_token recovery
// are limited as [Confidential.ClientSource]'s are: one request to the
// source every 30 seconds per resource; within them, the cache answers.
func (m *ManagedIdentity) Source() bearer.TokenSource { return miSource{m} }

type miSource struct{ m *ManagedIdentity }

func (s miSource) Token(ctx context.Context, req bearer.TokenRequest) (bearer.Token, error) {
	if err := refuseStepUp(req, "a managed identity"); err != nil {
		return bearer.Token{}, err
	}
	if req.TenantID != "" {
		return bearer.Token{}, fmt.Errorf("%w: a managed identity belongs to one tenant; the request asks for tenant %q", ErrTenantNotSupported, req.TenantID)
	}
	resource, err := scopesToResource(req.Scopes)
	if err != nil {
		return bearer.Token{}, err
	}
	if req.Claims != "" {
		if _, err := mergeClaims("", req.Claims); err != nil {
			return bearer.Token{}, err
		}
	}
	if isInvalidTokenRecovery(req) {
		return s.m.forced.do(ctx, s.m.app, forcedKey("mi", "", req), callConfigOf(req), func(cc callConfig) (Result, error) {
			return s.m.acquire(ctx, resource, cc)
		})
	}
	r, err := s.m.acquire(ctx, resource, callConfigOf(req))
	if err != nil {
		return bearer.Token{}, err
	}
	return r.Token, nil
}

// scopesToResource returns the one non-empty scope of scopes.
func scopesToResource(scopes []string) (string, error) {
	var found string
	n := 0
	for _, s := range scopes {
		if s = strings.TrimSpace(s); s != "" {
			found = s
			n++
		}
	}
	switch {
	case n == 0:
		return "", checkScopes(nil)
	case n > 1:
		return "", fmt.Errorf("%w: a managed identity token is for one resource; the request has %d scopes", ErrInvalidOption, n)
	}
	return found, nil
}

// normalizeResource trims resource and its "/.default" suffix.
func normalizeResource(resource string) (string, error) {
	r := strings.TrimSpace(resource)
	if len(r) > len("/.default") && strings.EqualFold(r[len(r)-len("/.default"):], "/.default") {
		r = r[:len(r)-len("/.default")]
	}
	if r == "" || strings.EqualFold(r, "/.default") {
		return "", checkScopes(nil)
	}
	if strings.IndexFunc(r, func(c rune) bool { return c < ' ' || c == 0x7f }) >= 0 {
		return "", fmt.Errorf("%w: the resource %q holds control characters", ErrInvalidOption, r)
	}
	return r, nil
}

// miQuery is the cache query of the managed identity's token for resource.
func (m *ManagedIdentity) miQuery(resource string) cache.AccessTokenQuery {
	return cache.AccessTokenQuery{
		Environment: miEnvironment, Realm: miRealm, ClientID: m.clientID,
		Scopes: m.scopesOf(resource), CaseInsensitiveScopes: true,
	}
}

// maxScopeSlices bounds the resources whose one-scope slice is kept.
const maxScopeSlices = 64

// scopesOf returns []string{resource}, kept for the first resources asked
// for, so that a cached token's lookup allocates nothing (the cache keeps
// the query's scopes). The slices are never modified.
func (m *ManagedIdentity) scopesOf(resource string) []string {
	if v, ok := m.scopeSlices.Load(resource); ok {
		return v.([]string)
	}
	s := []string{resource}
	if m.scopeCount.Load() < maxScopeSlices {
		if _, loaded := m.scopeSlices.LoadOrStore(resource, s); !loaded {
			m.scopeCount.Add(1)
		}
	}
	return s
}

// miKey is the flight key of resource for a call with claims and force.
func (m *ManagedIdentity) miKey(resource, claims string, force bool) string {
	return flightKey("mi", m.clientID, miEnvironment, miRealm, []string{resource}, true, claims, force)
}

// acquire is AcquireToken with its options applied.
func (m *ManagedIdentity) acquire(ctx context.Context, resource string, cc callConfig) (Result, error) {
	resource, err := normalizeResource(resource)
	var tr *acquisition // nil unless the managed identity is traced
	if t := m.cfg.trace; t != nil {
		var a acquisition
		tr = &a
		info := acquireInfo(KindManagedIdentity, nil, cc)
		if err == nil {
			info.Scopes = m.scopesOf(resource)
		}
		ctx = tr.begin(ctx, t, info)
	}
	if err != nil {
		if tr != nil {
			tr.end(ctx, false, err)
		}
		return Result{}, err
	}
	plain := cc.claims == "" && !cc.forceRefresh
	if plain {
		now := m.cfg.clock()
		if at, ok := m.cache.AccessToken(ctx, m.miQuery(resource), now); ok {
			if m.log.enabled(ctx) {
				m.logHit(ctx, "managed identity", []string{resource}, at)
			}
			if refreshDue(at.RefreshOn, now) {
				m.refreshMI(ctx, resource, at.RefreshOn, now)
			}
			if tr != nil {
				tr.end(ctx, true, nil)
			}
			return Result{Token: tokenFromCache(at), FromCache: true}, nil
		}
	}
	r, err := m.fetchOnceMI(tr.missed(ctx), resource, cc.claims, cc.forceRefresh)
	if tr != nil {
		tr.end(ctx, r.FromCache, err)
	}
	return r, err
}

// fetchOnceMI gets resource's token from the source, sharing the request
// with concurrent identical calls. A plain call looks in the cache once
// more first. (Apart from acquire, so that the cached path allocates
// nothing for the closure.)
func (m *ManagedIdentity) fetchOnceMI(ctx context.Context, resource, claims string, force bool) (Result, error) {
	plain := claims == "" && !force
	return m.flights.do(ctx, m.miKey(resource, claims, force), func(ctx context.Context) (Result, error) {
		if plain {
			// A call that just ended may have cached the token.
			if at, ok := m.cache.AccessToken(ctx, m.miQuery(resource), m.cfg.clock()); ok {
				return Result{Token: tokenFromCache(at), FromCache: true}, nil
			}
		}
		return m.fetchMI(ctx, resource, claims != "")
	})
}

// refreshMI starts a background refresh of resource's token, due since
// refreshOn. It looks in the cache again first, as [Confidential.refresh]
// does.
func (m *ManagedIdentity) refreshMI(ctx context.Context, resource string, refreshOn, now time.Time) {
	m.refreshInBackgroundOf(ctx, RefreshInfo{Kind: KindManagedIdentity, Scopes: m.scopesOf(resource)}, m.miKey(resource, "", false), refreshOn, now, func(ctx context.Context) (Result, error) {
		now := m.cfg.clock()
		if at, ok := m.cache.AccessToken(ctx, m.miQuery(resource), now); ok && !refreshDue(at.RefreshOn, now) {
			return Result{Token: tokenFromCache(at), FromCache: true}, nil
		}
		return m.fetchMI(ctx, resource, false)
	})
}

// fetchMI asks the source for resource's token and caches it. For a
// claims challenge, the cached token's hash goes with the request where
// the source takes it.
func (m *ManagedIdentity) fetchMI(ctx context.Context, resource string, claims bool) (Result, error) {
	start := time.Now()
	var refreshHash string
	if claims && (m.src == SourceAppService || m.src == SourceServiceFabric) {
		if at, ok := m.cache.AccessToken(ctx, m.miQuery(resource), m.cfg.clock()); ok {
			refreshHash = sha256Hex(at.Secret)
		}
	}
	if m.probeIMDS && !m.imdsSeen.Load() {
		if err := m.probe(ctx, resource); err != nil {
			return Result{}, err
		}
	}
	m.log.debug(ctx, "flow: managed identity: asking the source",
		slog.String("source", string(m.src)), slog.String("endpoint", m.endpoint),
		slog.String("resource", resource), slog.Bool("claims", claims),
		slog.Bool("token_sha256_to_refresh", refreshHash != ""))
	tok, err := m.request(ctx, resource, refreshHash)
	if err != nil {
		err = fmt.Errorf("flow: managed identity (%s): %w", m.src, errorFromResponse(err))
		m.log.debug(ctx, "flow: managed identity: request failed",
			slog.String("source", string(m.src)), slog.Duration("elapsed", time.Since(start)), slog.String("error", err.Error()))
		return Result{}, err
	}
	m.store(ctx, cache.Response{
		Environment:       miEnvironment,
		Realm:             miRealm,
		ClientID:          m.clientID,
		Scopes:            []string{resource},
		AccessToken:       tok.AccessToken,
		TokenType:         tok.TokenType,
		ExpiresOn:         tok.ExpiresOn,
		ExtendedExpiresOn: tok.ExtExpiresOn,
		RefreshOn:         tok.RefreshOn,
	}, m.cfg.clock())
	m.log.debug(ctx, "flow: managed identity: token cached",
		slog.String("source", string(m.src)), slog.String("resource", resource),
		slog.Time("expires_on", tok.ExpiresOn), slog.Time("refresh_on", tok.RefreshOn),
		slog.Duration("elapsed", time.Since(start)))
	return Result{Token: bearer.Token{
		AccessToken: tok.AccessToken,
		TokenType:   tok.TokenType,
		ExpiresOn:   tok.ExpiresOn,
		RefreshOn:   tok.RefreshOn,
		Scopes:      []string{resource},
	}}, nil
}

// sha256Hex is the lower-case hex SHA-256 of s, as token_sha256_to_refresh
// carries it.
func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
