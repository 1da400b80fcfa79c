package authtest

import (
	"log/slog"
	"time"
)

// Option configures a [Server] at construction.
type Option func(*config)

type config struct {
	addr            string
	tls             bool
	hostNames       []string
	clock           func() time.Time
	region          string
	logger          *slog.Logger
	tokenLifetime   time.Duration
	tokenRefreshIn  time.Duration // WithTokenRefreshIn
	refreshLifetime time.Duration
	deviceSlowDown  bool
	deviceInterval  time.Duration
	noDefaultAPIs   bool
	codeLifetime    time.Duration
	deviceLifetime  time.Duration
	managedLifetime time.Duration
	requestLimit    int
	dpop            bool // WithDPoP

	managedRefreshIn time.Duration
	arcKeyDir        string
	legacyArc        bool
}

func defaultConfig() config {
	return config{
		addr:            "127.0.0.1:0",
		tokenLifetime:   time.Hour,
		refreshLifetime: 90 * 24 * time.Hour,
		deviceInterval:  5 * time.Second,
		codeLifetime:    10 * time.Minute,
		deviceLifetime:  15 * time.Minute,
		managedLifetime: 24 * time.Hour,
	}
}

// WithAddr makes the server listen on addr (host:port) instead of a random
// port on 127.0.0.1. Use a loopback address: the server is for tests.
func WithAddr(addr string) Option { return func(c *config) { c.addr = addr } }

// WithTLS makes [Start] start an HTTPS server, as [NewTLSServer] does.
func WithTLS() Option { return func(c *config) { c.tls = true } }

// WithHostNames adds host names to the TLS server's certificate (and so to
// the names [Server.Client] answers for), on top of Entra's real host
// names. A name may be a wildcard such as "*.example.com". It has no
// effect on a plain HTTP server.
func WithHostNames(names ...string) Option {
	return func(c *config) { c.hostNames = append(c.hostNames, names...) }
}

// WithClock makes now the server's base clock instead of real time. See
// [Server.Now].
func WithClock(now func() time.Time) Option { return func(c *config) { c.clock = now } }

// WithRegion sets the Azure region the instance metadata stand-in reports
// at /metadata/instance/compute/location (see [Server.SetRegion]).
func WithRegion(region string) Option { return func(c *config) { c.region = region } }

// WithLogger makes the server report problems it sees (every error
// response, with its code and description, never a secret) to l. By
// default a server made with a testing.TB reports them with tb.Logf and
// a server made without one is silent.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithTokenLifetime sets the lifetime of access tokens issued by the token
// endpoint (default one hour). Tokens living two hours or more come with
// refresh_in (half the lifetime), as Entra sends it for long-lived tokens.
func WithTokenLifetime(d time.Duration) Option { return func(c *config) { c.tokenLifetime = d } }

// WithTokenRefreshIn makes the token endpoint send refresh_in (d, in
// whole seconds, at least one) with every access token it issues whose
// lifetime is longer than d, whatever that lifetime: with short
// lifetimes ([WithTokenLifetime]) clients refresh in the background as
// they do for Entra's long-lived tokens, which soaks need. Without it,
// refresh_in comes only with tokens living two hours or more (half their
// lifetime), as Entra sends it.
func WithTokenRefreshIn(d time.Duration) Option { return func(c *config) { c.tokenRefreshIn = d } }

// WithRefreshTokenLifetime sets how long a refresh token stays valid
// (default 90 days, Entra's inactivity limit). A refresh token used after
// that fails with invalid_grant AADSTS700082.
func WithRefreshTokenLifetime(d time.Duration) Option {
	return func(c *config) { c.refreshLifetime = d }
}

// WithDeviceCodeSlowDown makes the device code grant answer slow_down
// (RFC 8628 section 3.5) to a poll that comes sooner than the interval
// after the previous one, on the server clock, and grow the interval by
// five seconds. Entra itself does not send slow_down, so this is off by
// default.
func WithDeviceCodeSlowDown() Option { return func(c *config) { c.deviceSlowDown = true } }

// WithDeviceCodeInterval sets the polling interval the device
// authorization endpoint asks for (default five seconds).
func WithDeviceCodeInterval(d time.Duration) Option {
	return func(c *config) { c.deviceInterval = d }
}

// WithRequestLimit makes [Server.Requests] keep only the last n records
// (n > 0), so that a long-running server (such as cmd/authtest) does not
// grow without bound. By default every request is kept.
func WithRequestLimit(n int) Option { return func(c *config) { c.requestLimit = n } }

// WithoutDefaultAPIs leaves out the built-in Microsoft Graph API
// registration (see [GraphAppID]).
func WithoutDefaultAPIs() Option { return func(c *config) { c.noDefaultAPIs = true } }

// WithManagedIdentityLifetime sets the lifetime of the tokens every
// managed identity stand-in issues (default 24 hours, as IMDS issues
// them).
func WithManagedIdentityLifetime(d time.Duration) Option {
	return func(c *config) { c.managedLifetime = d }
}

// WithManagedIdentityRefreshIn makes the managed identity stand-ins send
// refresh_in (d, in seconds) with their tokens and issue a new token once
// d has passed; without it they send none and keep a token for half its
// lifetime.
func WithManagedIdentityRefreshIn(d time.Duration) Option {
	return func(c *config) { c.managedRefreshIn = d }
}

// WithAzureArcKeyDirectory sets the directory where the Azure Arc
// stand-in writes the key files its challenges name (the agent's
// /var/opt/azcmagent/tokens). By default it is a temporary directory of
// the server's own (see [Server.AzureArcKeyDirectory]).
func WithAzureArcKeyDirectory(dir string) Option {
	return func(c *config) { c.arcKeyDir = dir }
}

// WithLegacyAzureArcAgent makes the Azure Arc stand-in behave as an agent
// that knows no user-assigned identity: it ignores client_id, object_id
// and msi_res_id and answers for the system-assigned identity, echoing
// that identity's client ID.
func WithLegacyAzureArcAgent() Option { return func(c *config) { c.legacyArc = true } }
