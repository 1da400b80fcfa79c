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

	"github.com/bearerhttp/bearer/cache"
	"github.com/bearerhttp/bearer/internal/oauth"
)

// Timings of the discovery cache, on the application's clock.
const (
	// discoveryTTL is how long a discovered document is used before it is
	// read again. An older one keeps serving while it is read again in the
	// background, and for as long as reading it fails.
	discoveryTTL = 24 * time.Hour
	// discoveryRetryAfterFailure is how long after a failed discovery the
	// next one may start; doubled after each further failure in a row, at
	// most discoveryMaxBackoff. Meanwhile callers get the document read
	// before, however old, or, without one, the failure at once: a flood of
	// requests during an outage makes one discovery per backoff, not one
	// each.
	discoveryRetryAfterFailure = 5 * time.Second
	discoveryMaxBackoff        = time.Minute
	// maxKeptFailures is the number of kept discoveries from which failed
	// ones whose backoff has passed are forgotten (authorities named by
	// calls, such as other tenants' unknown hosts, come and go).
	maxKeptFailures = 1024
)

// failureBackoff is the wait after failures failed attempts in a row:
// first, doubled for each further one, at most most.
func failureBackoff(failures int, first, most time.Duration) time.Duration {
	if failures <= 1 {
		return min(first, most)
	}
	return min(first<<min(failures-1, 20), most)
}

// resolver finds the endpoints of authorities: computed for the shapes
// whose endpoints are known, discovered once (then cached) for the
// others. It is safe for concurrent use: concurrent discoveries of one
// authority make one request. A document past discoveryTTL keeps serving
// while it is read again in the background (one attempt; after a failure,
// the next waits out a backoff); a failed discovery of an authority with
// no document is kept for the backoff, so that callers meanwhile fail at
// once instead of asking the failing authority each.
type resolver struct {
	wire              *oauth.Client
	log               logger
	clock             func() time.Time
	instanceDiscovery bool        // WithInstanceDiscovery
	validate          bool        // WithValidateAuthority
	discoveryEndpoint string      // WithInstanceDiscoveryEndpoint
	metaStore         cache.Store // WithMetadataStore

	group      singleflight.Group // discoveries callers wait for
	background sync.WaitGroup     // background reads of stale documents
	mu         sync.Mutex
	docs       map[string]cachedEndpoints // by discovery key
}

// cachedEndpoints is what is kept of an authority's discovery.
type cachedEndpoints struct {
	e        *endpoints // the last discovered, nil until one succeeds
	at       time.Time  // when e was discovered
	err      error      // the last discovery's error, nil after a success
	failures int        // discoveries failed in a row
	retryAt  time.Time  // after a failure, when the next discovery may start
	// reading is set while a background read of a stale document runs:
	// one at a time. (Discoveries callers wait for, of authorities with no
	// document, are shared through the resolver's singleflight.Group.)
	reading bool
}

func newResolver(cfg *config, wire *oauth.Client, log logger) *resolver {
	return &resolver{
		wire:              wire,
		log:               log,
		clock:             cfg.clock,
		instanceDiscovery: cfg.instanceDiscovery,
		validate:          cfg.validateAuthority,
		discoveryEndpoint: cfg.instanceDiscoveryEndpoint,
		metaStore:         cfg.metadataStore,
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

// kept returns what is kept of the discovery of key.
func (r *resolver) kept(key string) (cachedEndpoints, bool) {
	r.mu.Lock()
	c, ok := r.docs[key]
	r.mu.Unlock()
	return c, ok
}

// fresh reports whether c holds a document read less than discoveryTTL
// before now (a clock set back counts as fresh within the same span).
func (c cachedEndpoints) fresh(now time.Time) bool {
	return c.e != nil && now.Sub(c.at) < discoveryTTL && now.Sub(c.at) >= -discoveryTTL
}

// backingOff reports whether a failed discovery's backoff runs at now.
func (c cachedEndpoints) backingOff(now time.Time) bool {
	return c.failures > 0 && now.Before(c.retryAt)
}

// environmentOf returns the environment a's tokens are cached under when
// it is known without a network round trip: computed for every authority
// except an Entra host instance discovery vouches for, whose environment
// is the one its last discovery named (however old).
func (r *resolver) environmentOf(a authority) (string, bool) {
	if r.needsInstanceDiscovery(a) {
		c, ok := r.kept(a.String())
		if !ok || c.e == nil {
			return "", false
		}
		return c.e.environment, true
	}
	return a.environment(), true
}

// discover returns a's discovered endpoints: from the cache when fresh;
// from the cache however old while a new read runs in the background or
// after it failed; else from one discovery shared by concurrent callers,
// unless the last one failed less than its backoff ago (its error then).
// A caller whose ctx ends stops waiting; the discovery itself goes on
// (bounded by the wire client's timeout) for the others.
func (r *resolver) discover(ctx context.Context, a authority) (*endpoints, error) {
	key := a.String()
	now := r.clock()
	if c, ok := r.kept(key); ok {
		switch {
		case c.fresh(now):
			return c.e, nil
		case c.e != nil:
			// Stale: it serves while a new read runs in the background,
			// or waits for the backoff of a failed one.
			if r.startReading(key, now) {
				r.background.Add(1)
				go func() {
					defer r.background.Done()
					_, _ = r.read(context.WithoutCancel(ctx), a, key, false)
				}()
			}
			return c.e, nil
		case c.backingOff(now):
			return nil, c.err
		}
	}
	ch := r.group.DoChan(key, func() (any, error) { return r.read(context.WithoutCancel(ctx), a, key, true) })
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

// startReading reports whether a background read of key's stale document
// may start at now, and marks it started: none runs, and no failed one's
// backoff does.
func (r *resolver) startReading(key string, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.docs[key]
	if !ok || c.reading || c.backingOff(now) {
		return false
	}
	c.reading = true
	r.docs[key] = c
	return true
}

// read is a flight of discover, or a background read of a stale
// document: it discovers a's endpoints (with retries when retry is set,
// else in one attempt) and keeps the outcome under key.
// A flight that starts after another has ended takes what that one kept
// when it is still good: a fresh document, or a failure within its
// backoff (with the document read before, if any). A failure returns the
// document read before, if any, else the error.
func (r *resolver) read(ctx context.Context, a authority, key string, retry bool) (any, error) {
	defer func() {
		r.mu.Lock()
		if c, ok := r.docs[key]; ok && c.reading {
			c.reading = false
			r.docs[key] = c
		}
		r.mu.Unlock()
	}()
	if c, ok := r.kept(key); ok {
		now := r.clock()
		switch {
		case c.fresh(now):
			return c.e, nil
		case c.backingOff(now) && c.e != nil:
			return c.e, nil
		case c.backingOff(now):
			return nil, c.err
		}
	}
	e, at, err := r.fetchOrLoad(ctx, a, retry)
	now := r.clock()
	r.mu.Lock()
	c := r.docs[key]
	if err == nil {
		c = cachedEndpoints{e: e, at: at}
	} else {
		c.err, c.failures = err, c.failures+1
		c.retryAt = now.Add(failureBackoff(c.failures, discoveryRetryAfterFailure, discoveryMaxBackoff))
		if len(r.docs) >= maxKeptFailures {
			for k, old := range r.docs {
				if old.e == nil && !old.backingOff(now) {
					delete(r.docs, k)
				}
			}
		}
	}
	r.docs[key] = c
	r.mu.Unlock()
	if err == nil {
		return e, nil
	}
	r.log.debug(ctx, "flow: discovery failed", slog.String("authority", a.String()),
		slog.Int("failures", c.failures), slog.Time("retry_at", c.retryAt), slog.Bool("stale_document_kept", c.e != nil),
		slog.String("error", err.Error()))
	if c.e != nil {
		return c.e, nil
	}
	return nil, err
}

// get reads the document at u: with the wire client's retries when retry
// is set, else in one attempt.
func get(ctx context.Context, wire *oauth.Client, u string, retry bool) ([]byte, error) {
	if retry {
		return wire.Get(ctx, u, nil, false)
	}
	resp, err := wire.Do(ctx, &oauth.Request{Method: http.MethodGet, URL: u, NoRetry: true})
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, resp.Error()
	}
	return resp.Body, nil
}

// fetch discovers a's endpoints: through Entra's instance discovery for
// an Entra host when validation and instance discovery are both on,
// otherwise from the authority's own discovery document.
func (r *resolver) fetch(ctx context.Context, a authority, retry bool) (*endpoints, error) {
	start := time.Now()
	docURL := a.metadataURL()
	environment := a.environment()
	if r.needsInstanceDiscovery(a) {
		d, err := r.instance(ctx, a, retry)
		if err != nil {
			return nil, err
		}
		docURL = d.TenantDiscoveryEndpoint
		if cloud, ok := d.CloudOf(a.host); ok && cloud.PreferredCache != "" {
			environment = strings.ToLower(cloud.PreferredCache)
		}
	}
	body, err := get(ctx, r.wire, docURL, retry)
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
		tenantID:          tenantIDOf(m.Issuer),
		authMethods:       m.AuthMethods,
		signingAlgs:       m.SigningAlgs,
		dpopAlgs:          m.DPoPAlgs,
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
func (r *resolver) instance(ctx context.Context, a authority, retry bool) (*oauth.InstanceDiscovery, error) {
	q := url.Values{}
	q.Set("api-version", "1.1")
	q.Set("authorization_endpoint", a.String()+"/oauth2/v2.0/authorize")
	u := r.discoveryEndpoint + "/common/discovery/instance?" + q.Encode()
	body, err := get(ctx, r.wire, u, retry)
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
