package flow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/bearerhttp/bearer/internal/oauth"
)

// discoveryTTL is how long a discovered document is kept.
const discoveryTTL = 24 * time.Hour

// resolver finds the endpoints of authorities: computed for the shapes
// whose endpoints are known, discovered once (then cached) for the
// others. It is safe for concurrent use: concurrent discoveries of one
// authority make one request, and a failed discovery is not kept, so the
// next call tries again.
type resolver struct {
	wire              *oauth.Client
	log               logger
	clock             func() time.Time
	instanceDiscovery bool   // WithInstanceDiscovery
	validate          bool   // WithValidateAuthority
	discoveryEndpoint string // WithInstanceDiscoveryEndpoint

	group singleflight.Group
	mu    sync.Mutex
	docs  map[string]cachedEndpoints // by discovery key
}

type cachedEndpoints struct {
	e  *endpoints
	at time.Time
}

func newResolver(cfg *config, wire *oauth.Client, log logger) *resolver {
	return &resolver{
		wire:              wire,
		log:               log,
		clock:             cfg.clock,
		instanceDiscovery: cfg.instanceDiscovery,
		validate:          cfg.validateAuthority,
		discoveryEndpoint: cfg.instanceDiscoveryEndpoint,
		docs:              make(map[string]cachedEndpoints),
	}
}

// endpoints returns what a token request to a needs: without any request
// for Entra's known hosts, External ID, B2C and ADFS; from the authority's
// discovery document (read once, then cached) for other Entra hosts and
// OIDC authorities. The result must not be modified.
func (r *resolver) endpoints(ctx context.Context, a authority) (*endpoints, error) {
	if e, ok := a.staticEndpoints(); ok {
		return e, nil
	}
	return r.discover(ctx, a)
}

// metadata returns a's endpoints with everything its discovery document
// says (issuer, signing algorithms…), reading the document once for every
// kind of authority. The middleware that validates tokens needs it; token
// requests do not.
func (r *resolver) metadata(ctx context.Context, a authority) (*endpoints, error) {
	return r.discover(ctx, a)
}

// cached returns the endpoints discovered for key, if they are fresh.
func (r *resolver) cached(key string) (*endpoints, bool) {
	now := r.clock()
	r.mu.Lock()
	c, ok := r.docs[key]
	r.mu.Unlock()
	if ok && now.Sub(c.at) < discoveryTTL && now.Sub(c.at) >= -discoveryTTL {
		return c.e, true
	}
	return nil, false
}

// discover returns a's discovered endpoints, from the cache or from one
// discovery shared by concurrent callers. A caller whose ctx ends stops
// waiting; the discovery itself goes on (bounded by the wire client's
// timeout) for the others.
func (r *resolver) discover(ctx context.Context, a authority) (*endpoints, error) {
	key := a.String()
	if e, ok := r.cached(key); ok {
		return e, nil
	}
	ch := r.group.DoChan(key, func() (any, error) {
		// A caller that missed the cache above may start its flight after
		// another flight has filled it: the cache is read again.
		if e, ok := r.cached(key); ok {
			return e, nil
		}
		e, err := r.fetch(context.WithoutCancel(ctx), a)
		if err != nil {
			return nil, err
		}
		r.mu.Lock()
		r.docs[key] = cachedEndpoints{e: e, at: r.clock()}
		r.mu.Unlock()
		return e, nil
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(*endpoints), nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %s: %w", ErrDiscovery, a, ctx.Err())
	}
}

// fetch discovers a's endpoints: through Entra's instance discovery for
// an Entra host when validation and instance discovery are both on,
// otherwise from the authority's own discovery document.
func (r *resolver) fetch(ctx context.Context, a authority) (*endpoints, error) {
	start := time.Now()
	docURL := a.metadataURL()
	environment := a.hostname()
	if st, ok := a.staticEndpoints(); ok {
		environment = st.environment
	}
	if r.needsInstanceDiscovery(a) {
		d, err := r.instance(ctx, a)
		if err != nil {
			return nil, err
		}
		docURL = d.TenantDiscoveryEndpoint
		if cloud, ok := d.CloudOf(a.host); ok && cloud.PreferredCache != "" {
			environment = strings.ToLower(cloud.PreferredCache)
		}
	}
	body, err := r.wire.Get(ctx, docURL, nil, false)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: reading %s: %w", ErrDiscovery, a, docURL, errorFromResponse(err))
	}
	m, err := oauth.ParseMetadata(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %s: %w", ErrDiscovery, a, docURL, err)
	}
	if a.kind == kindOIDC {
		if err := checkIssuer(m.Issuer, a); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrDiscovery, a, err)
		}
	}
	e := &endpoints{
		authority:         a,
		authorization:     m.AuthorizationEndpoint,
		token:             m.TokenEndpoint,
		deviceCode:        m.DeviceAuthorizationEndpoint,
		endSession:        m.EndSessionEndpoint,
		jwks:              m.JWKSURI,
		issuer:            m.Issuer,
		accessTokenIssuer: m.AccessTokenIssuer,
		authMethods:       m.AuthMethods,
		signingAlgs:       m.SigningAlgs,
		environment:       environment,
		realm:             a.realm(),
		discovered:        true,
	}
	if st, ok := a.staticEndpoints(); ok {
		// For authorities whose endpoints are computed, the computed ones
		// stay authoritative: the document only adds to them.
		e.authorization, e.token, e.deviceCode, e.endSession = st.authorization, st.token, or(m.DeviceAuthorizationEndpoint, st.deviceCode), or(m.EndSessionEndpoint, st.endSession)
		e.jwks = or(m.JWKSURI, st.jwks)
	}
	r.log.debug(ctx, "flow: authority discovered",
		slog.String("authority", a.String()), slog.String("document", docURL),
		slog.String("token_endpoint", e.token), slog.Duration("elapsed", time.Since(start)))
	return e, nil
}

// needsInstanceDiscovery reports whether a's host is checked with Entra's
// instance discovery before use: an Entra host that is not one of the
// known ones, with validation and instance discovery on. A loopback host
// (a local test authority) is not, unless the instance discovery endpoint
// was pointed elsewhere than Entra's (WithInstanceDiscoveryEndpoint):
// Entra cannot know a loopback host, and a test's authority can be used
// as it is.
func (r *resolver) needsInstanceDiscovery(a authority) bool {
	if a.kind != kindEntra || a.known() || !r.validate || !r.instanceDiscovery {
		return false
	}
	return !a.loopback() || r.discoveryEndpoint != DefaultInstanceDiscoveryEndpoint
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// instance asks Entra's instance discovery about a's host. An unknown
// host (invalid_instance) is an error wrapping [ErrUnknownAuthority].
func (r *resolver) instance(ctx context.Context, a authority) (*oauth.InstanceDiscovery, error) {
	q := url.Values{}
	q.Set("api-version", "1.1")
	q.Set("authorization_endpoint", a.String()+"/oauth2/v2.0/authorize")
	u := r.discoveryEndpoint + "/common/discovery/instance?" + q.Encode()
	body, err := r.wire.Get(ctx, u, nil, false)
	if err != nil {
		var re *oauth.ResponseError
		if errors.As(err, &re) && (re.Code == "invalid_instance" || re.StatusCode == http.StatusBadRequest && strings.Contains(re.Description, "invalid_instance")) {
			return nil, fmt.Errorf("%w: instance discovery does not know %s (turn validation off with WithValidateAuthority(false) for a host you trust): %w",
				ErrUnknownAuthority, a.host, errorFromResponse(err))
		}
		return nil, fmt.Errorf("%w: %s: instance discovery: %w", ErrDiscovery, a, errorFromResponse(err))
	}
	d, err := oauth.ParseInstanceDiscovery(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrDiscovery, a, err)
	}
	return d, nil
}

// checkIssuer checks an OIDC authority's issuer against the authority, as
// MSAL does: the same scheme and host (RFC 8414 wants them equal; some
// deployments put the issuer on another path of the host).
func checkIssuer(issuer string, a authority) error {
	if issuer == "" {
		return errors.New("the discovery document has no issuer")
	}
	u, err := url.Parse(issuer)
	if err != nil || !strings.EqualFold(u.Scheme, a.scheme) || !strings.EqualFold(u.Host, a.host) {
		return fmt.Errorf("the discovery document's issuer %q is not on the authority's host %s", issuer, a.scheme+"://"+a.host)
	}
	return nil
}
