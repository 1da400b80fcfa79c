package bearer

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/bearerhttp/bearer/challenge"
)

// TransportTrace is a set of hooks that report what a [Transport] does
// around the requests it sends: the tokens it asks its source for (and
// how long that took), the challenges resources answer with, the
// requests it sends again, the tokens it withholds, and the challenges
// it cannot satisfy. It is the transport's counterpart of
// [net/http/httptrace.ClientTrace], made for counting and timing, such
// as with OpenTelemetry metrics and spans.
//
// Set it on [Transport.Trace] for every request of a transport, or on
// one request's context with [ContextWithTrace]; with both, the
// transport's hooks are called first. Any hook may be nil.
//
// Hooks are called synchronously, in the goroutine of RoundTrip, with the
// request's context (or the one TokenStart returned, for TokenDone): they
// should return quickly, and must not modify what they are given. No hook
// is ever given a token, a header of a request the transport authorized,
// or anything else that carries a secret.
type TransportTrace struct {
	// TokenStart is called before the transport asks its source for a
	// token: for a request's first token, and for the token that answers
	// a challenge. The context it returns, unless nil, is the one the
	// source is asked with and TokenDone is given (so a hook may start a
	// span around the source's work, such as its calls to an authority).
	TokenStart func(ctx context.Context, info TokenStartInfo) context.Context

	// TokenDone is called when the source has answered.
	TokenDone func(ctx context.Context, info TokenDoneInfo)

	// Challenge is called for every 401 to a request the transport
	// authorized that carries a challenge the transport recognizes (see
	// [ChallengeKind]), whether or not it acts upon it: a challenge that
	// comes back after its resend, or that cannot be acted upon (a body
	// that cannot be replayed, claims that do not decode), is reported
	// too, and followed by no Resend.
	Challenge func(ctx context.Context, info ChallengeInfo)

	// Resend is called before the transport sends a request again to
	// answer a challenge.
	Resend func(ctx context.Context, info ResendInfo)

	// TokenWithheld is called when the transport sends a request without
	// a token, or refuses to send it, because the token must not go
	// where the request goes (see [WithheldReason]). A request that
	// already carries its own Authorization header is not reported.
	TokenWithheld func(ctx context.Context, info WithheldInfo)

	// ChallengeFailed is called with the error RoundTrip returns when the
	// source could not satisfy a challenge (rule 6 of [Transport]).
	ChallengeFailed func(ctx context.Context, err *ChallengeError)
}

// ChallengeKind names a challenge [Transport] acts upon, by the error
// code that asks for it. The zero value names none.
type ChallengeKind string

// The challenges [Transport] acts upon.
const (
	// ChallengeCAE is a claims challenge, error="insufficient_claims"
	// with claims ([challenge.Challenge.IsCAE]): continuous access
	// evaluation, or a conditional access authentication context.
	ChallengeCAE ChallengeKind = "insufficient_claims"
	// ChallengeStepUp is error="insufficient_user_authentication"
	// ([challenge.Challenge.IsStepUp]).
	ChallengeStepUp ChallengeKind = "insufficient_user_authentication"
	// ChallengeInvalidToken is error="invalid_token"
	// ([challenge.Challenge.IsInvalidToken]).
	ChallengeInvalidToken ChallengeKind = "invalid_token"
	// ChallengeDPoPNonce is error="use_dpop_nonce"
	// ([challenge.Challenge.IsDPoPNonce]), recognized only for a source
	// that implements [RequestAuthorizer].
	ChallengeDPoPNonce ChallengeKind = "use_dpop_nonce"
)

// TokenStartInfo describes a token request of [Transport] to its source.
type TokenStartInfo struct {
	// Scopes are the scopes asked for. Read-only.
	Scopes []string
	// Challenge is the challenge the token answers; empty for a
	// request's first token.
	Challenge ChallengeKind
}

// TokenDoneInfo describes a token request of [Transport] that has ended.
type TokenDoneInfo struct {
	// Scopes are the scopes asked for. Read-only.
	Scopes []string
	// Challenge is the challenge the token answers; empty for a
	// request's first token.
	Challenge ChallengeKind
	// Duration is how long the source took.
	Duration time.Duration
	// Err is the source's error, nil when it returned a token.
	Err error
}

// ChallengeInfo describes a challenge a resource answered with.
type ChallengeInfo struct {
	// Kind is what the challenge asks for.
	Kind ChallengeKind
	// Challenge is the challenge as the resource sent it (it carries no
	// secret: its parameters are the resource's, such as realm, error
	// and claims). Read-only.
	Challenge challenge.Challenge
	// Resends is how many times the request had been sent again before
	// this challenge came: 0 for the answer to the first request.
	Resends int
}

// ResendInfo describes a request [Transport] sends again.
type ResendInfo struct {
	// Kind is the challenge the resend answers.
	Kind ChallengeKind
	// Resend counts the resends of the request: 1 for the first, at most
	// 2.
	Resend int
}

// WithheldReason says why [Transport] withheld a token.
type WithheldReason string

// The reasons [Transport] withholds a token.
const (
	// WithheldHostNotAllowed: the request's host is not allowed (see
	// [Transport.AllowedHosts]); it was sent without a token.
	WithheldHostNotAllowed WithheldReason = "host_not_allowed"
	// WithheldRedirect: the request follows a redirect off the origin of
	// the first request of its chain (see
	// [Transport.RedirectsBetweenAllowedHosts]); it was sent without a
	// token.
	WithheldRedirect WithheldReason = "redirect"
	// WithheldInsecure: the request goes over plain HTTP to a host that
	// is not loopback; it was not sent ([ErrInsecure]).
	WithheldInsecure WithheldReason = "insecure"
	// WithheldProxy: the request goes over plain HTTP to loopback, but
	// through a proxy (or whether a proxy would carry it is unknown); it
	// was not sent ([ErrInsecure]).
	WithheldProxy WithheldReason = "proxy"
)

// WithheldInfo describes a request [Transport] withheld a token from.
type WithheldInfo struct {
	// Reason is why.
	Reason WithheldReason
	// Scheme and Host are those of the request's URL (Host with its port,
	// if any).
	Scheme, Host string
}

type traceKey struct{}

// contextTraces is set once any context has carried a TransportTrace:
// until then, RoundTrip does not look for one in each request's context.
var contextTraces atomic.Bool

// ContextWithTrace returns a copy of ctx whose requests [Transport]
// reports to trace, as well as to its Trace field. A trace already in
// ctx is kept: its hooks are called after trace's, as
// [net/http/httptrace.WithClientTrace] composes traces.
func ContextWithTrace(ctx context.Context, trace *TransportTrace) context.Context {
	if trace == nil {
		return ctx
	}
	if old, ok := ctx.Value(traceKey{}).(*TransportTrace); ok {
		trace = composeTraces(trace, old)
	}
	contextTraces.Store(true)
	return context.WithValue(ctx, traceKey{}, trace)
}

// composeTraces returns a trace calling a's hooks, then b's.
func composeTraces(a, b *TransportTrace) *TransportTrace {
	h := traces{a, b}
	c := new(TransportTrace)
	if a.TokenStart != nil || b.TokenStart != nil {
		c.TokenStart = func(ctx context.Context, info TokenStartInfo) context.Context {
			return h.tokenStartCtx(ctx, info)
		}
	}
	if a.TokenDone != nil || b.TokenDone != nil {
		c.TokenDone = h.tokenDone
	}
	if a.Challenge != nil || b.Challenge != nil {
		c.Challenge = h.challenge
	}
	if a.Resend != nil || b.Resend != nil {
		c.Resend = h.resend
	}
	if a.TokenWithheld != nil || b.TokenWithheld != nil {
		c.TokenWithheld = h.withheld
	}
	if a.ChallengeFailed != nil || b.ChallengeFailed != nil {
		c.ChallengeFailed = h.challengeFailed
	}
	return c
}

// traces are the traces of one request: the transport's (a) and its
// context's (b), either nil. A value, so that looking them up costs no
// allocation.
type traces struct{ a, b *TransportTrace }

// tracesOf returns the traces of a request with context ctx.
func (t *Transport) tracesOf(ctx context.Context) traces {
	h := traces{a: t.Trace}
	if contextTraces.Load() {
		h.b, _ = ctx.Value(traceKey{}).(*TransportTrace)
	}
	return h
}

func (h traces) on() bool { return h.a != nil || h.b != nil }

// tokenStart calls the TokenStart hooks, returning the context for the
// source and the time the request started.
func (h traces) tokenStart(ctx context.Context, info TokenStartInfo) (context.Context, time.Time) {
	return h.tokenStartCtx(ctx, info), time.Now()
}

func (h traces) tokenStartCtx(ctx context.Context, info TokenStartInfo) context.Context {
	for _, t := range [2]*TransportTrace{h.a, h.b} {
		if t != nil && t.TokenStart != nil {
			if c := t.TokenStart(ctx, info); c != nil {
				ctx = c
			}
		}
	}
	return ctx
}

func (h traces) tokenDone(ctx context.Context, info TokenDoneInfo) {
	for _, t := range [2]*TransportTrace{h.a, h.b} {
		if t != nil && t.TokenDone != nil {
			t.TokenDone(ctx, info)
		}
	}
}

func (h traces) challenge(ctx context.Context, info ChallengeInfo) {
	for _, t := range [2]*TransportTrace{h.a, h.b} {
		if t != nil && t.Challenge != nil {
			t.Challenge(ctx, info)
		}
	}
}

func (h traces) resend(ctx context.Context, info ResendInfo) {
	for _, t := range [2]*TransportTrace{h.a, h.b} {
		if t != nil && t.Resend != nil {
			t.Resend(ctx, info)
		}
	}
}

func (h traces) withheld(ctx context.Context, info WithheldInfo) {
	for _, t := range [2]*TransportTrace{h.a, h.b} {
		if t != nil && t.TokenWithheld != nil {
			t.TokenWithheld(ctx, info)
		}
	}
}

func (h traces) challengeFailed(ctx context.Context, err *ChallengeError) {
	for _, t := range [2]*TransportTrace{h.a, h.b} {
		if t != nil && t.ChallengeFailed != nil {
			t.ChallengeFailed(ctx, err)
		}
	}
}

// token asks src for a token for req, reporting it to h.
func (h traces) token(ctx context.Context, src TokenSource, req TokenRequest, kind ChallengeKind) (Token, error) {
	if !h.on() {
		return src.Token(ctx, req)
	}
	tctx, start := h.tokenStart(ctx, TokenStartInfo{Scopes: req.Scopes, Challenge: kind})
	tok, err := src.Token(tctx, req)
	h.tokenDone(tctx, TokenDoneInfo{Scopes: req.Scopes, Challenge: kind, Duration: time.Since(start), Err: err})
	return tok, err
}

// withheldFrom reports that req gets no token, for reason.
func (t *Transport) withheldFrom(ctx context.Context, scheme, host string, reason WithheldReason) {
	if h := t.tracesOf(ctx); h.on() {
		h.withheld(ctx, WithheldInfo{Reason: reason, Scheme: scheme, Host: host})
	}
}

// failed reports err to the ChallengeFailed hooks and returns it.
func (h traces) failed(ctx context.Context, err *ChallengeError) *ChallengeError {
	if h.on() {
		h.challengeFailed(ctx, err)
	}
	return err
}

// kind is the ChallengeKind of a cause.
func (c cause) kind() ChallengeKind {
	switch c {
	case causeNonce:
		return ChallengeDPoPNonce
	case causeClaims:
		return ChallengeCAE
	case causeStepUp:
		return ChallengeStepUp
	case causeInvalidToken:
		return ChallengeInvalidToken
	}
	return ""
}
