package flow

import (
	"context"
	"errors"
	"time"

	"github.com/bearerhttp/bearer/internal/oauth"
)

// Trace is a set of hooks that report an application's token
// acquisitions, for counting and timing them (with OpenTelemetry metrics
// and spans, say): each acquisition's start and end (where the token came
// from, how long it took, the authority's HTTP status, the error), and
// each background refresh's. Set it with [WithTrace]. Any hook may be
// nil. [bearer.TransportTrace] reports the transport's side.
//
// An acquisition is one call of a source's Token (such as
// [Confidential.ClientSource]'s) or of an AcquireToken… method (see
// [Kind]). For client credentials and on-behalf-of, it is reported once
// its arguments are found usable: a call refused for them before it
// looks for a token (no scope, no user assertion, a tenant or authority
// that cannot apply, a step-up a source cannot satisfy) is not
// ([bearer.TransportTrace]'s TokenDone sees a source's). The flows that
// redeem a grant (authorization code, refresh token, username and
// password, device code, interactive) read no cache: their outcome is
// fetched or failed.
//
// Hooks are called synchronously: the acquisition hooks in the caller's
// goroutine, the refresh hooks in the refresh's own. They should return
// quickly, may be called concurrently, and must not modify what they are
// given. No hook is ever given a token, an assertion, a secret or a
// claims request: only what was asked (flow, scopes, tenant), what
// happened, how long it took, and the error (whose text holds no secret,
// as every error of this package).
type Trace struct {
	// AcquireStart is called when an acquisition starts. The context it
	// returns, unless nil, is the one the acquisition goes on with and
	// AcquireDone is given: a hook may start a span there, which the
	// requests to the authority then belong to (their HTTP client's
	// instrumentation, see [WithHTTPClient], sees it).
	AcquireStart func(ctx context.Context, info AcquireInfo) context.Context

	// AcquireDone is called when an acquisition has ended.
	AcquireDone func(ctx context.Context, info AcquireDoneInfo)

	// RefreshStart is called when a background refresh starts (a cached
	// token is past its RefreshOn; see [Confidential]). The context it
	// returns, unless nil, is the refresh's, and RefreshDone's.
	RefreshStart func(ctx context.Context, info RefreshInfo) context.Context

	// RefreshDone is called when a background refresh has its outcome
	// (recorded: a failed one's backoff starts), as its last step: a
	// call that finds the token due until the refresh has quite ended
	// starts no other.
	RefreshDone func(ctx context.Context, info RefreshDoneInfo)
}

// WithTrace sets hooks that report the application's token acquisitions
// and background refreshes (see [Trace]). Given more than once, every
// Trace is told, in order. Without it, nothing is reported, at no cost.
// Used by the flows [Kind] names.
func WithTrace(t *Trace) Option {
	return func(c *config) {
		switch {
		case t == nil:
		case c.trace == nil:
			c.trace = t
		default:
			c.trace = composeTraces(c.trace, t)
		}
	}
}

// Kind names a flow in [Trace] reports.
type Kind string

// The flows [Trace] reports.
const (
	KindClientCredentials Kind = "client_credentials" // AcquireTokenForClient, ClientSource
	KindOnBehalfOf        Kind = "on_behalf_of"       // AcquireTokenOnBehalfOf, OnBehalfOfSource
	KindManagedIdentity   Kind = "managed_identity"   // ManagedIdentity's AcquireToken and Source
	KindSilent            Kind = "silent"             // AcquireTokenSilent, AccountSource
	KindAuthorizationCode Kind = "authorization_code" // AcquireTokenByAuthCodeFlow, AcquireTokenByAuthorizationCode
	KindRefreshToken      Kind = "refresh_token"      // AcquireTokenByRefreshToken
	KindUsernamePassword  Kind = "username_password"  // AcquireTokenByUsernamePassword
	KindDeviceCode        Kind = "device_code"        // AcquireTokenByDeviceCode (the user's wait included)
	KindInteractive       Kind = "interactive"        // AcquireTokenInteractive (the user's wait included)
)

// Outcome says where an acquisition's token came from, or that it failed.
type Outcome string

// The outcomes of an acquisition.
const (
	// OutcomeCacheHit: the token came from the cache.
	OutcomeCacheHit Outcome = "cache_hit"
	// OutcomeFetched: the acquisition asked the authority (or managed
	// identity endpoint) itself.
	OutcomeFetched Outcome = "fetched"
	// OutcomeCoalesced: the acquisition waited for an identical one
	// under way (another caller's, or a background refresh) and shares
	// its token.
	OutcomeCoalesced Outcome = "coalesced"
	// OutcomeFailed: the acquisition failed; the Err field says why.
	OutcomeFailed Outcome = "failed"
)

// AcquireInfo describes a token acquisition.
type AcquireInfo struct {
	// Kind is the flow.
	Kind Kind
	// Scopes are the scopes asked for (for a managed identity, the
	// resource). Read-only.
	Scopes []string
	// Tenant is the tenant asked for ([Tenant], or
	// bearer.TokenRequest.TenantID); empty for the application's own.
	Tenant string
	// Claims reports whether the acquisition carries a claims request
	// (the answer to a claims challenge), which skips the cache.
	Claims bool
	// ForceRefresh reports whether it was asked to skip the cache.
	ForceRefresh bool
}

// AcquireDoneInfo describes a token acquisition that has ended.
type AcquireDoneInfo struct {
	AcquireInfo
	// Outcome says where the token came from, or that the acquisition
	// failed.
	Outcome Outcome
	// StatusCode is the HTTP status of the authority's answer to the
	// token request this acquisition made or shared (200 for a token, or
	// an error status); 0 when it made none (a cache hit, an error before
	// any token request) or got no answer (a network error).
	StatusCode int
	// Duration is how long the acquisition took.
	Duration time.Duration
	// Err is the acquisition's error, nil on success.
	Err error
}

// RefreshInfo describes a background refresh.
type RefreshInfo struct {
	// Kind is the flow.
	Kind Kind
	// Scopes are the scopes of the token refreshed. Read-only.
	Scopes []string
	// Tenant is the tenant of the token refreshed, when it is not the
	// application's own.
	Tenant string
	// RefreshOn is when the token became due for a refresh.
	RefreshOn time.Time
}

// RefreshDoneInfo describes a background refresh that has ended.
type RefreshDoneInfo struct {
	RefreshInfo
	// Outcome is OutcomeFetched for a new token from the authority,
	// OutcomeCacheHit when the cache held a fresh one by then (another
	// refresh had replaced it), OutcomeFailed when the refresh failed
	// (the cached token keeps serving while it is valid).
	Outcome Outcome
	// StatusCode is the HTTP status of the authority's answer, as in
	// [AcquireDoneInfo].
	StatusCode int
	// Duration is how long the refresh took.
	Duration time.Duration
	// Err is the refresh's error, nil on success.
	Err error
}

// composeTraces returns a trace calling a's hooks, then b's.
func composeTraces(a, b *Trace) *Trace {
	c := &Trace{}
	if a.AcquireStart != nil || b.AcquireStart != nil {
		c.AcquireStart = func(ctx context.Context, info AcquireInfo) context.Context {
			for _, t := range [2]*Trace{a, b} {
				if t.AcquireStart != nil {
					if n := t.AcquireStart(ctx, info); n != nil {
						ctx = n
					}
				}
			}
			return ctx
		}
	}
	if a.AcquireDone != nil || b.AcquireDone != nil {
		c.AcquireDone = func(ctx context.Context, info AcquireDoneInfo) {
			for _, t := range [2]*Trace{a, b} {
				if t.AcquireDone != nil {
					t.AcquireDone(ctx, info)
				}
			}
		}
	}
	if a.RefreshStart != nil || b.RefreshStart != nil {
		c.RefreshStart = func(ctx context.Context, info RefreshInfo) context.Context {
			for _, t := range [2]*Trace{a, b} {
				if t.RefreshStart != nil {
					if n := t.RefreshStart(ctx, info); n != nil {
						ctx = n
					}
				}
			}
			return ctx
		}
	}
	if a.RefreshDone != nil || b.RefreshDone != nil {
		c.RefreshDone = func(ctx context.Context, info RefreshDoneInfo) {
			for _, t := range [2]*Trace{a, b} {
				if t.RefreshDone != nil {
					t.RefreshDone(ctx, info)
				}
			}
		}
	}
	return c
}

// acquireInfo describes an acquisition of kind for scopes with cc.
func acquireInfo(kind Kind, scopes []string, cc callConfig) AcquireInfo {
	return AcquireInfo{Kind: kind, Scopes: scopes, Tenant: cc.tenant, Claims: cc.claims != "", ForceRefresh: cc.forceRefresh}
}

// kind is g's flow.
func (g *grant) kind() Kind {
	if g.hash != "" {
		return KindOnBehalfOf
	}
	return KindClientCredentials
}

// refreshInfo describes the refresh of g's token.
func (c *Confidential) refreshInfo(g *grant) RefreshInfo {
	info := RefreshInfo{Kind: g.kind(), Scopes: g.scopes}
	if g.a.tenant != c.authority.tenant {
		info.Tenant = g.a.tenant
	}
	return info
}

// acquisition is one traced acquisition, kept on its caller's stack. A
// nil *acquisition is an untraced one: its methods do nothing.
type acquisition struct {
	t     *Trace
	info  AcquireInfo
	start time.Time
	// st is what the acquisition learns past the cache (see missed); nil
	// while it has not missed.
	st *traceState
}

// traceState is what a traced acquisition that missed the cache learns
// from the flight it went through (see flights.do): whether it joined
// another caller's, and the authority's status. It travels in the
// context; only the acquisition's own goroutine touches it.
type traceState struct {
	joined bool
	status int
}

type traceStateKey struct{}

// stateOf returns the traceState of ctx, if any.
func stateOf(ctx context.Context) *traceState {
	st, _ := ctx.Value(traceStateKey{}).(*traceState)
	return st
}

// flightCtxKey is the context key of the flight a call runs in, set
// when the application is traced (see flights.traced).
type flightCtxKey struct{}

// recordStatus records the HTTP status of an authority's answer to a
// token request (the status of err's response when the request failed)
// in the flight ctx belongs to, if it is traced; outside a flight (a
// grant redeemed once, see traceOneShot), in ctx's traceState.
func recordStatus(ctx context.Context, status int, err error) {
	f, _ := ctx.Value(flightCtxKey{}).(*flight)
	var st *traceState
	if f == nil {
		if st = stateOf(ctx); st == nil {
			return
		}
	}
	if err != nil {
		status = 0
		var re *oauth.ResponseError
		var fe *Error
		switch {
		case errors.As(err, &fe):
			status = fe.StatusCode
		case errors.As(err, &re):
			status = re.StatusCode
		}
	}
	if f != nil {
		f.status.Store(int32(status))
		return
	}
	st.status = status
}

// traceOneShot runs acquire, a flow that redeems a grant once (no cache,
// no flight), of kind for scopes with opts, under the application's
// Trace.
func (a *app) traceOneShot(ctx context.Context, kind Kind, scopes []string, opts []CallOption, acquire func(context.Context) (Result, error)) (Result, error) {
	t := a.cfg.trace
	if t == nil {
		return acquire(ctx)
	}
	cc, _ := newCallConfig(opts...) // for the report only: acquire checks them
	var at acquisition
	ctx = at.begin(ctx, t, acquireInfo(kind, scopes, cc))
	r, err := acquire(at.missed(ctx))
	at.end(ctx, r.FromCache, err)
	return r, err
}

// flightStatus returns the status recorded in the flight ctx belongs to,
// 0 when there is none.
func flightStatus(ctx context.Context) int {
	if f, _ := ctx.Value(flightCtxKey{}).(*flight); f != nil {
		return int(f.status.Load())
	}
	return 0
}

// begin starts a traced acquisition of t: it calls AcquireStart and
// returns the context the acquisition goes on with.
func (a *acquisition) begin(ctx context.Context, t *Trace, info AcquireInfo) context.Context {
	a.t, a.info = t, info
	if t.AcquireStart != nil {
		if c := t.AcquireStart(ctx, info); c != nil {
			ctx = c
		}
	}
	a.start = time.Now()
	return ctx
}

// missed is called when the acquisition goes past the cache: it returns
// ctx with a traceState for the flight to fill in.
func (a *acquisition) missed(ctx context.Context) context.Context {
	if a == nil {
		return ctx
	}
	a.st = new(traceState)
	return context.WithValue(ctx, traceStateKey{}, a.st)
}

// end reports the acquisition's end: its token came from the cache (or
// a flight's look in it) when fromCache, else from the authority.
func (a *acquisition) end(ctx context.Context, fromCache bool, err error) {
	if a.t.AcquireDone == nil {
		return
	}
	info := AcquireDoneInfo{AcquireInfo: a.info, Duration: time.Since(a.start), Err: err}
	joined := false
	if a.st != nil {
		joined = a.st.joined
		info.StatusCode = a.st.status
	}
	switch {
	case err != nil:
		info.Outcome = OutcomeFailed
	case joined:
		info.Outcome = OutcomeCoalesced
	case fromCache:
		info.Outcome = OutcomeCacheHit
	default:
		info.Outcome = OutcomeFetched
	}
	a.t.AcquireDone(ctx, info)
}

// refreshTrace is one traced background refresh.
type refreshTrace struct {
	t     *Trace
	info  RefreshInfo
	start time.Time
}

// begin starts a traced refresh, in its flight (whose context ctx is):
// it calls RefreshStart and returns the refresh's context.
func (rt *refreshTrace) begin(ctx context.Context, t *Trace, info RefreshInfo) context.Context {
	rt.t, rt.info = t, info
	if t.RefreshStart != nil {
		if c := t.RefreshStart(ctx, info); c != nil {
			ctx = c
		}
	}
	rt.start = time.Now()
	return ctx
}

// end reports the refresh's end.
func (rt *refreshTrace) end(ctx context.Context, r Result, err error) {
	if rt.t == nil || rt.t.RefreshDone == nil {
		return
	}
	info := RefreshDoneInfo{RefreshInfo: rt.info, StatusCode: flightStatus(ctx), Duration: time.Since(rt.start), Err: err}
	switch {
	case err != nil:
		info.Outcome = OutcomeFailed
	case r.FromCache:
		info.Outcome = OutcomeCacheHit
	default:
		info.Outcome = OutcomeFetched
	}
	rt.t.RefreshDone(ctx, info)
}
