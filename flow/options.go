package flow

import (
	"context"
	"crypto"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/bearerhttp/bearer/cache"
	"github.com/bearerhttp/bearer/challenge"
	"github.com/bearerhttp/bearer/internal/oauth"
)

// An Option configures an application made by [NewConfidential],
// [NewPublic] or [NewManagedIdentity]. Options that do not apply to an
// application's kind are ignored by it.
type Option func(*config)

// A CallOption configures one call, such as one AcquireToken… call. Each
// option's documentation lists the calls that use it: a call given any
// other option fails with an error wrapping [ErrInvalidOption] before any
// request, rather than ignore it.
type CallOption func(*callConfig)

// Defaults of the options.
const (
	// DefaultAuthority is the authority of an application made without
	// [WithAuthority]: Entra's public cloud, any organization or personal
	// account.
	DefaultAuthority = "https://login.microsoftonline.com/common"
	// DefaultInstanceDiscoveryEndpoint is the host asked about authority
	// hosts Entra does not list among its known clouds.
	DefaultInstanceDiscoveryEndpoint = "https://login.microsoftonline.com"
	// DefaultRegionEndpoint is the Azure instance metadata service, asked
	// for the region by [AutoDetectRegion].
	DefaultRegionEndpoint = "http://169.254.169.254"
	// AutoDetectRegion, given to [WithRegion], finds the region the
	// program runs in: the REGION_NAME environment variable, else the
	// Azure instance metadata service, else none (the global endpoint).
	AutoDetectRegion = "TryAutoDetect"
)

// config is what the Options set. newConfig fills the defaults.
type config struct {
	authority     string // the authority URL as given
	oidcAuthority bool   // authority was given with WithOIDCAuthority

	cache             *cache.Cache
	httpClient        *http.Client
	capabilities      []string
	capabilitiesJSON  string // capabilities as a claims request
	region            string
	instanceDiscovery bool
	validateAuthority bool
	appName           string
	appVersion        string
	clientClaims      map[string]any
	excludeScopes     []string
	logger            *slog.Logger
	pii               bool
	trace             *Trace // WithTrace
	clock             func() time.Time
	dpopKey           crypto.Signer // WithDPoP
	dpopSet           bool

	instanceDiscoveryEndpoint string
	regionEndpoint            string
	retry                     RetryPolicy
	mi                        miConfig // managed identity (managedidentity.go)
	fleet                     FleetCoalescing
	metadataStore             cache.Store

	// Test seams, reached by this package's tests only.
	requestTimeout time.Duration // a call to the authority without deadline (30 s)
	regionTimeout  time.Duration // the instance metadata service's answer (2 s)
	withTimeout    func(context.Context, time.Duration) (context.Context, context.CancelFunc)
	getenv         func(string) string
	pollWait       func(context.Context, time.Duration) error // a device code's wait between polls (devicecode.go)

	browser      func(ctx context.Context, url string) error // WithBrowser (interactive.go)
	signInOutput io.Writer                                   // where AcquireTokenInteractive prints the URL when no browser opens (os.Stderr)
}

// newConfig applies opts over the defaults and checks the result: it
// fails for an authority URL that cannot be used, a bad region name,
// capabilities that are not plain names, or override endpoints that are
// not https (http only to loopback).
func newConfig(opts ...Option) (*config, error) {
	c := &config{
		authority:                 DefaultAuthority,
		instanceDiscovery:         true,
		validateAuthority:         true,
		instanceDiscoveryEndpoint: DefaultInstanceDiscoveryEndpoint,
		regionEndpoint:            DefaultRegionEndpoint,
		requestTimeout:            oauth.DefaultTimeout,
		regionTimeout:             2 * time.Second,
		withTimeout:               context.WithTimeout,
		getenv:                    os.Getenv,
		pollWait:                  sleepCtx,
		signInOutput:              os.Stderr,
	}
	for _, o := range opts {
		if o != nil {
			o(c)
		}
	}
	if c.httpClient == nil {
		c.httpClient = http.DefaultClient
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	if c.clock == nil {
		c.clock = time.Now
	}
	if _, err := parseAuthority(c.authority, c.oidcAuthority); err != nil {
		return nil, err
	}
	if err := oauth.CheckEndpoint(c.instanceDiscoveryEndpoint); err != nil {
		return nil, fmt.Errorf("%w: instance discovery endpoint %q: %w", ErrInvalidOption, c.instanceDiscoveryEndpoint, err)
	}
	if err := checkRegionEndpoint(c.regionEndpoint); err != nil {
		return nil, err
	}
	if c.region != "" && c.region != AutoDetectRegion {
		r, ok := validRegion(c.region)
		if !ok {
			return nil, fmt.Errorf("%w: region %q is not a region name such as westus2", ErrInvalidOption, c.region)
		}
		c.region = r
	}
	caps, err := capabilitiesClaims(c.capabilities)
	if err != nil {
		return nil, err
	}
	c.capabilitiesJSON = caps
	return c, nil
}

// regionName matches Azure region names: a lower-case DNS label.
var regionName = regexp.MustCompile(`^[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$`)

// validRegion lower-cases and trims r and reports whether it is a region
// name.
func validRegion(r string) (string, bool) {
	r = strings.ToLower(strings.TrimSpace(r))
	return r, regionName.MatchString(r)
}

// checkRegionEndpoint accepts an absolute http or https URL without user
// information, query or fragment: the instance metadata service is plain
// http on a link-local address, so plain http is allowed here (no secret
// is sent to it).
func checkRegionEndpoint(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") ||
		u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%w: region endpoint %q is not an http(s) URL of a host", ErrInvalidOption, raw)
	}
	return nil
}

// oauthClient is the wire client the configuration asks for.
func (c *config) oauthClient() *oauth.Client {
	return &oauth.Client{
		HTTPClient:  c.httpClient,
		Timeout:     c.requestTimeout,
		Backoff:     c.retry.Backoff,
		Sleep:       c.retry.Sleep,
		Now:         c.clock,
		WithTimeout: c.withTimeout,
		Logger:      c.logger,
		AppName:     c.appName,
		AppVersion:  c.appVersion,
	}
}

// WithAuthority sets the authority tokens are asked from: Entra's public
// or a sovereign cloud (https://login.microsoftonline.com/{tenant} and
// its aliases, login.microsoftonline.us, login.chinacloudapi.cn…) with a
// tenant ID or domain or one of common, organizations, consumers; Azure AD
// B2C (https://{name}.b2clogin.com/{tenant}/{policy} or
// https://{host}/tfp/{tenant}/{policy}); Entra External ID
// (https://{name}.ciamlogin.com/, whose tenant defaults to
// {name}.onmicrosoft.com); ADFS (https://{host}/adfs). The URL must be
// https, except to a loopback host (127.0.0.1, ::1, localhost), where
// http is allowed for tests. A URL that cannot be used makes the
// constructor fail with an error wrapping [ErrInvalidAuthority].
// Tenant names are case-insensitive: they are kept in lower case, as MSAL
// keeps them, so two spellings of one tenant share cached tokens.
//
// The default is [DefaultAuthority]. Used by every flow except managed
// identity. The last of WithAuthority and [WithOIDCAuthority] wins.
func WithAuthority(authorityURL string) Option {
	return func(c *config) { c.authority, c.oidcAuthority = authorityURL, false }
}

// WithOIDCAuthority sets an OpenID Connect authority that is not Entra:
// its endpoints are read once from
// {authorityURL}/.well-known/openid-configuration and cached. Client
// assertions are signed with an algorithm the document lists. Tenants and
// regions do not apply. Its tokens are cached under its issuer URL (the
// cache's realm; the environment is its host), so issuers that share a
// host, such as Keycloak's realms (https://{host}/realms/{name}), never
// share cached tokens or store partitions. Used by every flow except
// managed identity.
func WithOIDCAuthority(authorityURL string) Option {
	return func(c *config) { c.authority, c.oidcAuthority = authorityURL, true }
}

// WithCache sets the token cache, which may be shared between
// applications and persisted (see package cache). The default is a
// private in-memory cache per application. Used by every flow.
func WithCache(c *cache.Cache) Option {
	return func(cfg *config) { cfg.cache = c }
}

// WithHTTPClient sets the client every call to the authority (and to the
// instance metadata service) goes through: MSAL Python's proxies, verify
// and timeout are its Transport's Proxy and TLSClientConfig and its
// Timeout. The default is [http.DefaultClient], which honours HTTPS_PROXY
// and NO_PROXY. The client is not modified. Whatever its CheckRedirect,
// calls follow no redirect to another origin or to plain http, and a token
// request follows none (such a call fails with an error wrapping
// [ErrRedirect]); CheckRedirect decides about the rest. Used by every flow.
func WithHTTPClient(c *http.Client) Option {
	return func(cfg *config) { cfg.httpClient = c }
}

// WithCapabilities declares client capabilities, sent with every token
// request as a claims request ({"access_token":{"xms_cc":{"values":[…]}}}),
// merged with any challenge claims. "cp1" says the application handles
// claims challenges (continuous access evaluation), so Entra issues
// long-lived, revocable tokens. The default is none. Used by every flow
// that asks Entra for a token.
func WithCapabilities(caps ...string) Option {
	return func(c *config) { c.capabilities = append([]string(nil), caps...) }
}

// WithRegion sends client-credentials token requests to Entra's regional
// endpoint of region (such as "westus2": https://westus2.login.microsoft.com),
// as MSAL does; other grants stay on the global host. [AutoDetectRegion]
// finds the region: the REGION_NAME environment variable, else the Azure
// instance metadata service (2 s at most, see [WithRegionEndpoint]), else
// no region; the answer is kept for the application's life. The region
// applies to Entra tenant authorities only: B2C, External ID (CIAM), ADFS,
// OIDC and loopback authorities ignore it. The default is no region. Used
// by AcquireTokenForClient.
func WithRegion(region string) Option {
	return func(c *config) { c.region = region }
}

// WithInstanceDiscovery turns Entra's instance discovery on or off. When
// on (the default), an authority host that is not one of Entra's known
// hosts is checked with
// {instance discovery endpoint}/common/discovery/instance before use; off,
// its endpoints are read from its own
// /{tenant}/v2.0/.well-known/openid-configuration. Known hosts never need
// it, and neither does a loopback authority (a local test authority such
// as authtest's) unless [WithInstanceDiscoveryEndpoint] names another
// endpoint. Used by every Entra flow.
func WithInstanceDiscovery(enabled bool) Option {
	return func(c *config) { c.instanceDiscovery = enabled }
}

// WithValidateAuthority turns the validation of unknown Entra authority
// hosts on (the default) or off. Validation is instance discovery: an
// unknown host that Entra does not recognise is an error wrapping
// [ErrUnknownAuthority]. Off, the host is trusted as given (for a private
// or test deployment). Used by every Entra flow.
func WithValidateAuthority(validate bool) Option {
	return func(c *config) { c.validateAuthority = validate }
}

// WithAppName sets the application name sent to the authority in the
// x-app-name header, for its telemetry. The default is none. Used by
// every flow.
func WithAppName(name string) Option {
	return func(c *config) { c.appName = name }
}

// WithAppVersion sets the application version sent in the x-app-ver
// header. The default is none. Used by every flow.
func WithAppVersion(version string) Option {
	return func(c *config) { c.appVersion = version }
}

// WithClientClaims sets extra claims for the client assertions a
// certificate credential signs (credential.Request.ClientClaims). The
// default is none. Used by the confidential flows.
func WithClientClaims(claims map[string]any) Option {
	return func(c *config) { c.clientClaims = claims }
}

// WithExcludeScopes removes scopes from those added to every user flow's
// request (openid, offline_access, profile): excluding offline_access,
// for example, asks for no refresh token. The default is none. Used by
// the user flows (on-behalf-of, authorization code, refresh token,
// username and password, device code, interactive).
func WithExcludeScopes(scopes ...string) Option {
	return func(c *config) { c.excludeScopes = append([]string(nil), scopes...) }
}

// WithLogger sets where the application logs what it asks, where, cache
// hits and misses, retries and timings, at debug level. No record holds a
// secret, token, assertion, code or password. The default discards
// everything. Used by every flow.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.logger = l }
}

// WithPII adds personal data to the log records: usernames, object IDs,
// tenant IDs of users, and claims. Never secrets or tokens. The default is
// off. Used by every flow.
func WithPII(enabled bool) Option {
	return func(c *config) { c.pii = enabled }
}

// WithClock sets the clock read for token lifetimes, assertion times and
// Retry-After dates, so tests can move time. The default is [time.Now].
// Used by every flow.
func WithClock(now func() time.Time) Option {
	return func(c *config) { c.clock = now }
}

// WithInstanceDiscoveryEndpoint sets the host asked about unknown Entra
// authority hosts (see [WithInstanceDiscovery]), such as a local
// authority in tests. It must be https, or http to a loopback host. The
// default is [DefaultInstanceDiscoveryEndpoint].
func WithInstanceDiscoveryEndpoint(endpointURL string) Option {
	return func(c *config) { c.instanceDiscoveryEndpoint = strings.TrimRight(endpointURL, "/") }
}

// WithRegionEndpoint sets the instance metadata service asked for the
// region by [AutoDetectRegion] (GET
// {endpoint}/metadata/instance/compute/location?format=text&api-version=2021-01-01
// with the header Metadata: true). Tests point it at a local server. The
// default is [DefaultRegionEndpoint].
func WithRegionEndpoint(endpointURL string) Option {
	return func(c *config) { c.regionEndpoint = strings.TrimRight(endpointURL, "/") }
}

// RetryPolicy says how calls to the authority wait between attempts.
// Which failures are retried is fixed: connection errors and the statuses
// 429, 500, 502, 503 and 504, at most twice, never an authorization code
// redemption, and never when the wait would pass the context's deadline.
type RetryPolicy struct {
	// Backoff returns the wait before retry number retry (1 for the
	// first) after resp, the response of the attempt that failed (nil
	// after a connection error); now is the application's clock. Nil
	// means [DefaultBackoff].
	Backoff func(retry int, resp *http.Response, now time.Time) time.Duration
	// Sleep carries out a wait: it returns after d, or early with ctx's
	// error when ctx is done. Nil means a timer. Tests set it to record
	// the waits asked for without waiting.
	Sleep func(ctx context.Context, d time.Duration) error
}

// DefaultBackoff is the default [RetryPolicy] Backoff: the authority's
// Retry-After (seconds or an HTTP date) on 429 and 5xx responses, else
// exponential backoff with jitter (a random wait in [0.5 s, 1 s) before
// the first retry, doubled for each further one, at most 30 s).
func DefaultBackoff(retry int, resp *http.Response, now time.Time) time.Duration {
	return oauth.DefaultBackoff(retry, resp, now)
}

// WithRetryPolicy sets how calls to the authority wait between attempts.
// The default is the zero RetryPolicy: [DefaultBackoff] and real waits.
// Used by every flow.
func WithRetryPolicy(p RetryPolicy) Option {
	return func(c *config) { c.retry = p }
}

// callConfig is what the CallOptions set.
type callConfig struct {
	claims       string
	tenant       string
	forceRefresh bool
	authority    string
	loginHint    string
	domainHint   string
	prompt       string
	state        string
	maxAge       time.Duration
	hasMaxAge    bool
	responseMode string
	acrValues    []string
	nonce        string
	pkce         string // a PKCE code verifier
	redirectURI  string // AcquireTokenInteractive's
	timeout      time.Duration

	// source is set for the calls of a bearer.TokenSource (callConfigOf),
	// whose request scopes do not change: a cached token may share them.
	source bool

	// given records which options were given, so that a call can refuse
	// the ones it does not use (see newCallConfigFor).
	given callOptions
}

// callOptions is a set of call options, one bit each.
type callOptions uint32

const (
	optClaims callOptions = 1 << iota
	optTenant
	optForceRefresh
	optAuthority
	optLoginHint
	optDomainHint
	optPrompt
	optState
	optMaxAge
	optResponseMode
	optACRValues
	optNonce
	optPKCE
	optRedirectURI
	optTimeout
)

// optionNames name the call options in errors, in bit order.
var optionNames = []string{"Claims", "Tenant", "ForceRefresh", "Authority", "LoginHint", "DomainHint", "Prompt",
	"State", "MaxAge", "ResponseMode", "ACRValues", "Nonce", "PKCE", "RedirectURI", "Timeout"}

// What each call uses: a call given any other option fails with
// ErrInvalidOption before any request.
const (
	// usedByAcquire are the options every AcquireToken… call takes.
	usedByAcquire = optClaims | optTenant | optAuthority
	// usedBySignInURL are the options of the authorization request calls
	// (InitiateAuthCodeFlow, AuthorizationRequestURL).
	usedBySignInURL = optClaims | optTenant | optAuthority | optLoginHint | optDomainHint | optPrompt |
		optState | optMaxAge | optResponseMode | optACRValues
)

// newCallConfig applies opts and checks the result: claims must be a JSON
// object.
func newCallConfig(opts ...CallOption) (callConfig, error) {
	var c callConfig
	if len(opts) > 0 {
		// The options write through a pointer they are handed, which
		// would move a local callConfig to the heap on every call: they
		// write into a pooled one, copied out.
		p := callConfigPool.Get().(*callConfig)
		for _, o := range opts {
			if o != nil {
				o(p)
			}
		}
		c = *p
		*p = callConfig{} // keeps no call's values
		callConfigPool.Put(p)
	}
	if c.claims != "" {
		if _, err := challenge.Merge(c.claims); err != nil {
			return c, fmt.Errorf("%w: claims: %w", ErrInvalidOption, err)
		}
	}
	if c.hasMaxAge && c.maxAge < 0 {
		return c, fmt.Errorf("%w: max age %v is negative", ErrInvalidOption, c.maxAge)
	}
	for _, v := range c.acrValues {
		if v == "" || strings.IndexFunc(v, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
			return c, fmt.Errorf("%w: ACR value %q is not a name without spaces", ErrInvalidOption, v)
		}
	}
	return c, nil
}

// callConfigPool holds zeroed callConfigs for newCallConfig. No option
// keeps the pointer it is handed (a CallOption's parameter type is
// unexported: only this package's options exist).
var callConfigPool = sync.Pool{New: func() any { return new(callConfig) }}

// newCallConfigFor is newCallConfig for the call named call, which uses
// the options allowed: any other option given fails it with an error
// wrapping ErrInvalidOption that names the option and the call, so that an
// option is never silently ignored.
func newCallConfigFor(call string, allowed callOptions, opts ...CallOption) (callConfig, error) {
	c, err := newCallConfig(opts...)
	if err != nil {
		return c, err
	}
	if extra := c.given &^ allowed; extra != 0 {
		var names []string
		for i, n := range optionNames {
			if extra&(1<<i) != 0 {
				names = append(names, n)
			}
		}
		return c, fmt.Errorf("%w: %s does not use %s", ErrInvalidOption, call, strings.Join(names, ", "))
	}
	return c, nil
}

// Claims adds a claims request (OpenID Connect Core 5.5; the decoded JSON
// of a claims challenge) to the call. The token comes from the authority,
// never from the cache, and replaces the cached one. It is merged with
// the client capabilities of [WithCapabilities]. Used by every
// AcquireToken… call, InitiateAuthCodeFlow and AuthorizationRequestURL
// (the sign-in asks for the claims).
func Claims(claimsJSON string) CallOption {
	return func(c *callConfig) { c.claims, c.given = claimsJSON, c.given|optClaims }
}

// Tenant asks for a token from tenant (an ID or a domain) instead of the
// application's own, for Entra and External ID (CIAM) authorities: the
// tenant replaces the one in the authority URL. It must be a specific
// tenant, not common, organizations or consumers, and an application
// whose authority is consumers cannot switch. B2C, ADFS and OIDC
// authorities have no tenants: a call with Tenant fails with an error
// wrapping [ErrTenantNotSupported]. Like the authority's, the tenant is
// kept in lower case. Used by every AcquireToken… call but
// AcquireTokenByAuthCodeFlow (whose flow names its tenant), and by
// InitiateAuthCodeFlow, AuthorizationRequestURL, LogoutURL and
// AdminConsentURL.
func Tenant(tenantID string) CallOption {
	return func(c *callConfig) { c.tenant, c.given = tenantID, c.given|optTenant }
}

// ForceRefresh skips the cache: the token comes from the authority and
// replaces the cached one. Used by AcquireTokenForClient,
// AcquireTokenOnBehalfOf and AcquireTokenSilent.
func ForceRefresh() CallOption {
	return func(c *callConfig) { c.forceRefresh, c.given = true, c.given|optForceRefresh }
}

// Authority sends this call to another authority of the same kind as the
// application's (for example another tenant's URL), resolved and cached
// as [WithAuthority] is. Used by the calls [Tenant] is used by.
func Authority(authorityURL string) CallOption {
	return func(c *callConfig) { c.authority, c.given = authorityURL, c.given|optAuthority }
}

// LoginHint pre-fills the username on the sign-in page (login_hint). Used
// by InitiateAuthCodeFlow, AuthorizationRequestURL and
// AcquireTokenInteractive.
func LoginHint(username string) CallOption {
	return func(c *callConfig) { c.loginHint, c.given = username, c.given|optLoginHint }
}

// DomainHint skips home realm discovery for a federated domain
// (domain_hint), such as "contoso.com", or "consumers" / "organizations".
// Used by InitiateAuthCodeFlow, AuthorizationRequestURL and
// AcquireTokenInteractive.
func DomainHint(domain string) CallOption {
	return func(c *callConfig) { c.domainHint, c.given = domain, c.given|optDomainHint }
}

// Prompt values.
const (
	PromptLogin         = "login"          // always ask for credentials
	PromptConsent       = "consent"        // always show the consent page
	PromptSelectAccount = "select_account" // let the user pick an account
	PromptNone          = "none"           // no page at all: fail instead
	PromptCreate        = "create"         // offer to create an account
)

// Prompt sets the prompt parameter of the authorization request (see
// [PromptLogin] and its siblings). Used by InitiateAuthCodeFlow,
// AuthorizationRequestURL and AcquireTokenInteractive.
func Prompt(prompt string) CallOption {
	return func(c *callConfig) { c.prompt, c.given = prompt, c.given|optPrompt }
}

// State sets the state parameter of the authorization request; the
// default is a random value (none for AuthorizationRequestURL). Used by
// InitiateAuthCodeFlow, AuthorizationRequestURL, AdminConsentURL and
// LogoutURL.
func State(state string) CallOption {
	return func(c *callConfig) { c.state, c.given = state, c.given|optState }
}

// MaxAge sets max_age (OpenID Connect Core 3.1.2.1): the user must have
// signed in within d, else signs in again (whole seconds; 0 forces a new
// sign-in). Used by InitiateAuthCodeFlow, AuthorizationRequestURL and
// AcquireTokenInteractive; and by AcquireTokenByAuthorizationCode, which
// then checks the ID token's auth_time against it.
func MaxAge(d time.Duration) CallOption {
	return func(c *callConfig) { c.maxAge, c.hasMaxAge, c.given = d, true, c.given|optMaxAge }
}

// Response modes.
const (
	ResponseModeQuery    = "query"     // the code in the redirect's query
	ResponseModeFormPost = "form_post" // the code POSTed to the redirect URI
	ResponseModeFragment = "fragment"  // the code in the redirect's fragment
)

// ResponseMode sets how the authorization response comes back (see
// [ResponseModeFormPost] and its siblings); the default is the
// authority's (query for a code). Used by InitiateAuthCodeFlow and
// AuthorizationRequestURL.
func ResponseMode(mode string) CallOption {
	return func(c *callConfig) { c.responseMode, c.given = mode, c.given|optResponseMode }
}
