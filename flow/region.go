package flow

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/bearerhttp/bearer/internal/oauth"
)

// regionEnv is the environment variable [AutoDetectRegion] reads first.
const regionEnv = "REGION_NAME"

// imdsLocationPath is the instance metadata service's region query.
const imdsLocationPath = "/metadata/instance/compute/location?format=text&api-version=2021-01-01"

// regions finds and remembers the region client-credentials requests go
// to. It is safe for concurrent use; detection runs at most once per
// application (concurrent first callers share it), and its answer, a
// region or none, is kept.
type regions struct {
	configured  string // WithRegion: "", a region, or AutoDetectRegion
	endpoint    string // WithRegionEndpoint
	timeout     time.Duration
	withTimeout func(context.Context, time.Duration) (context.Context, context.CancelFunc)
	getenv      func(string) string
	wire        *oauth.Client
	log         logger

	group    singleflight.Group
	mu       sync.Mutex
	detected bool
	region   string
}

func newRegions(cfg *config, log logger) *regions {
	wire := cfg.oauthClient()
	if cfg.httpClient == http.DefaultClient {
		wire.HTTPClient = imdsClient // never through a proxy
	}
	return &regions{
		configured:  cfg.region,
		endpoint:    cfg.regionEndpoint,
		timeout:     cfg.regionTimeout,
		withTimeout: cfg.withTimeout,
		getenv:      cfg.getenv,
		wire:        wire,
		log:         log,
	}
}

// imdsClient reaches the instance metadata service directly: a proxy
// from the environment cannot reach a link-local address.
var imdsClient = func() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	return &http.Client{Transport: t}
}()

// forAuthority returns the region a client-credentials request to a goes
// to, "" for the global endpoint: none when no region was configured or a
// takes none (see [authority.supportsRegion]), the configured one, or the
// detected one.
func (r *regions) forAuthority(ctx context.Context, a authority) string {
	switch {
	case r.configured == "":
		return ""
	case !a.supportsRegion():
		r.log.debug(ctx, "flow: region ignored: the authority has no regional endpoints",
			slog.String("authority", a.String()), slog.String("kind", a.kind.String()))
		return ""
	case r.configured != AutoDetectRegion:
		return r.configured
	}
	return r.detect(ctx)
}

// detect returns the detected region, detecting it on first use.
func (r *regions) detect(ctx context.Context) string {
	r.mu.Lock()
	if r.detected {
		defer r.mu.Unlock()
		return r.region
	}
	r.mu.Unlock()
	ch := r.group.DoChan("region", func() (any, error) {
		// A caller that saw no answer above may start its flight after
		// another flight has finished: the answer is looked for again.
		r.mu.Lock()
		detected, region := r.detected, r.region
		r.mu.Unlock()
		if detected {
			return region, nil
		}
		region = r.find(context.WithoutCancel(ctx))
		r.mu.Lock()
		r.region, r.detected = region, true
		r.mu.Unlock()
		return region, nil
	})
	select {
	case res := <-ch:
		return res.Val.(string)
	case <-ctx.Done():
		return "" // this caller goes global; detection goes on for the others
	}
}

// find reads the region: REGION_NAME, else the instance metadata service
// (one attempt, bounded by the region timeout), else none.
func (r *regions) find(ctx context.Context) string {
	if v := r.getenv(regionEnv); v != "" {
		if region, ok := validRegion(v); ok {
			r.log.debug(ctx, "flow: region from "+regionEnv, slog.String("region", region))
			return region
		}
		r.log.debug(ctx, "flow: "+regionEnv+" is not a region name; asking the instance metadata service")
	}
	start := time.Now()
	ctx, cancel := r.withTimeout(ctx, r.timeout)
	defer cancel()
	resp, err := r.wire.Do(ctx, &oauth.Request{
		Method:  http.MethodGet,
		URL:     r.endpoint + imdsLocationPath,
		Header:  http.Header{"Metadata": {"true"}},
		Bare:    true,
		NoRetry: true,
	})
	if err != nil {
		r.log.debug(ctx, "flow: no region: the instance metadata service did not answer; using the global endpoint",
			slog.String("error", err.Error()), slog.Duration("elapsed", time.Since(start)))
		return ""
	}
	region, ok := validRegion(strings.Trim(string(resp.Body), "\" \r\n\t"))
	if resp.StatusCode != http.StatusOK || !ok {
		r.log.debug(ctx, "flow: no region: the instance metadata service gave no region name; using the global endpoint",
			slog.Int("status", resp.StatusCode), slog.Duration("elapsed", time.Since(start)))
		return ""
	}
	r.log.debug(ctx, "flow: region from the instance metadata service",
		slog.String("region", region), slog.Duration("elapsed", time.Since(start)))
	return region
}
