package flow

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/bearerhttp/bearer/credential"
	"github.com/bearerhttp/bearer/internal/oauth"
)

// core is what every kind of application shares: its configuration, the
// wire client, authority resolution, the region and logging. It is safe
// for concurrent use.
type core struct {
	clientID  string
	cfg       *config
	log       logger
	wire      *oauth.Client
	authority authority  // the application's authority
	static    *endpoints // its endpoints when known without discovery, else nil
	resolver  *resolver
	regions   *regions
	dpop      *dpopState // WithDPoP, else nil

	// ownEnv and ownRealm are where the tokens of the application's
	// authority are cached (see core.cacheKeyOf), computed once when
	// ownKnown: the cached path of a token call allocates nothing for them.
	ownEnv, ownRealm string
	ownKnown         bool
}

// newCore makes the core of an application of clientID configured by cfg
// (from newConfig).
func newCore(clientID string, cfg *config) (*core, error) {
	a, err := parseAuthority(cfg.authority, cfg.oidcAuthority)
	if err != nil {
		return nil, err
	}
	log := newLogger(cfg)
	dp, err := newDPoP(cfg, log)
	if err != nil {
		return nil, err
	}
	wire := cfg.oauthClient()
	static, _ := a.staticEndpoints()
	c := &core{
		dpop:      dp,
		clientID:  clientID,
		cfg:       cfg,
		log:       log,
		wire:      wire,
		authority: a,
		static:    static,
		resolver:  newResolver(cfg, wire, log),
		regions:   newRegions(cfg, log),
		ownRealm:  a.realm(),
	}
	c.ownEnv, c.ownKnown = c.resolver.environmentOf(a)
	return c, nil
}

// cacheKeyOf returns the environment and realm a's tokens are cached
// under, and whether they are known without a network round trip: they
// are for every authority but an Entra host that instance discovery
// vouches for and has not yet been discovered (see
// resolver.environmentOf). The token cache is read before anything that
// needs the network, so a cached token serves while the authority cannot
// be reached.
func (c *core) cacheKeyOf(a authority) (env, realm string, ok bool) {
	if a == c.authority {
		if c.ownKnown {
			return c.ownEnv, c.ownRealm, true
		}
		env, ok = c.resolver.environmentOf(a)
		return env, c.ownRealm, ok
	}
	env, ok = c.resolver.environmentOf(a)
	if !ok {
		return "", "", false
	}
	return env, a.realm(), true
}

// authorityFor returns the authority a call goes to: the call's
// [Authority] if any (of the same kind as the application's), else the
// application's, with the call's [Tenant] applied.
func (c *core) authorityFor(cc callConfig) (authority, error) {
	a := c.authority
	if cc.authority != "" {
		o, err := parseAuthority(cc.authority, c.cfg.oidcAuthority)
		if err != nil {
			return authority{}, err
		}
		if o.kind != a.kind {
			return authority{}, fmt.Errorf("%w %q: a call's authority must be of the application's kind (%s), not %s",
				ErrInvalidAuthority, cc.authority, a.kind, o.kind)
		}
		a = o
	}
	return a.withTenant(cc.tenant)
}

// endpointsOf returns a's endpoints: computed once for the application's
// own authority when they need no discovery (so the cached path of a
// token call allocates nothing for them), else through the resolver.
func (c *core) endpointsOf(ctx context.Context, a authority) (*endpoints, error) {
	if c.static != nil && a == c.authority {
		return c.static, nil
	}
	return c.resolver.endpoints(ctx, a)
}

// claimsFor returns the claims form field of a call: the client
// capabilities merged with the call's claims.
func (c *core) claimsFor(claims string) (string, error) {
	return mergeClaims(c.cfg.capabilitiesJSON, claims)
}

// tokenRequest is one request to a token endpoint.
type tokenRequest struct {
	// endpoints are the authority's (from endpointsOf).
	endpoints *endpoints
	// form is the grant's form, from one of oauth's …Form builders, with
	// the claims of claimsFor.
	form url.Values
	// cred authenticates the client; nil for a public client.
	cred credential.Credential
	// noRetry makes one attempt only; always so for an authorization code.
	noRetry bool
}

// redeem sends a token request: to the regional endpoint for a
// client-credentials request when a region applies (the assertion
// audience stays the global token endpoint), with cred applied once per
// attempt. An authority's error response comes back as an [*Error].
func (c *core) redeem(ctx context.Context, tr tokenRequest) (*oauth.TokenResponse, error) {
	ep := tr.endpoints
	endpoint := ep.token
	grant := tr.form.Get("grant_type")
	region := ""
	if grant == oauth.GrantClientCredentials {
		region = c.regions.forAuthority(ctx, ep.authority)
		if u, ok := ep.regionalToken(region); ok {
			endpoint = u
		}
	}
	req := &oauth.Request{
		URL:     endpoint,
		Form:    tr.form,
		NoRetry: tr.noRetry || grant == oauth.GrantAuthorizationCode,
	}
	if tr.cred != nil {
		creq := ep.credentialRequest(c.clientID, endpoint, c.cfg.clientClaims)
		cred := tr.cred
		req.Authenticate = func(ctx context.Context, form url.Values, header http.Header) error {
			r := creq
			r.Now = c.cfg.clock()
			return cred.Apply(ctx, r, form, header)
		}
	}
	start := time.Now()
	c.log.debug(ctx, "flow: token request",
		slog.String("grant_type", grant), slog.String("scope", tr.form.Get("scope")),
		slog.String("authority", ep.authority.String()), slog.String("endpoint", endpoint),
		slog.String("region", region), slog.Bool("claims", tr.form.Get("claims") != ""))
	tok, err := c.send(ctx, ep, endpoint, req)
	if err != nil {
		err = errorFromResponse(err)
		recordStatus(ctx, 0, err)
		c.log.debug(ctx, "flow: token request failed",
			slog.String("grant_type", grant), slog.String("endpoint", endpoint),
			slog.Duration("elapsed", time.Since(start)), slog.String("error", err.Error()))
		return nil, err
	}
	recordStatus(ctx, tok.StatusCode, nil)
	c.log.debug(ctx, "flow: token received",
		slog.String("grant_type", grant), slog.String("endpoint", endpoint),
		slog.String("scope", tok.Scope), slog.Time("expires_on", tok.ExpiresOn),
		slog.Duration("elapsed", time.Since(start)),
		c.log.pii("home_account_id", tok.ClientInfo.HomeAccountID()))
	return tok, nil
}
