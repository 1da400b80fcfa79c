package main

import (
	"context"
	"errors"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/bearerhttp/bearer"
	"github.com/bearerhttp/bearer/flow"
)

// This file is the part to copy into a program: bearer's hooks
// (bearer.TransportTrace and flow.Trace) wired to OpenTelemetry.
//
// Metrics (durations in seconds; each histogram's count is the number of
// events):
//
//	bearer.transport.token.duration  the transport's wait for its source, by bearer.challenge
//	                                 ("none" for a request's first token) and error.type
//	bearer.transport.challenges      challenges met, by bearer.challenge
//	bearer.transport.resends         requests sent again, by bearer.challenge
//	bearer.transport.withheld        tokens withheld, by bearer.withheld.reason
//	bearer.transport.challenge.failures  challenges the source could not satisfy
//	bearer.acquisition.duration      token acquisitions, by bearer.flow, bearer.outcome,
//	                                 http.response.status_code (when the authority was asked)
//	                                 and error.type
//	bearer.refresh.duration          background refreshes, likewise
//
// Spans: "bearer.token" around each source call of the transport (a
// child of the HTTP client span, when otelhttp wraps the transport);
// "bearer.acquire" around each acquisition (its children are the
// requests to the authority, when the application's HTTP client is
// instrumented); "bearer.refresh" for each background refresh, a new root
// linked to the request that found the token due. Challenges, resends,
// withheld tokens and failed challenges are events of the current span.
//
// Scopes and tenants go on spans only: as metric attributes they could
// have many values.

// Attribute keys.
const (
	attrChallenge = attribute.Key("bearer.challenge")
	attrReason    = attribute.Key("bearer.withheld.reason")
	attrFlow      = attribute.Key("bearer.flow")
	attrOutcome   = attribute.Key("bearer.outcome")
	attrScopes    = attribute.Key("bearer.scopes")
	attrTenant    = attribute.Key("bearer.tenant")
	attrStatus    = attribute.Key("http.response.status_code")
	attrErrorType = attribute.Key("error.type")
)

// instruments are the tracer and the metric instruments the hooks feed.
type instruments struct {
	tracer trace.Tracer

	tokenDuration, acquireDuration, refreshDuration metric.Float64Histogram
	challenges, resends, withheld, failures         metric.Int64Counter
}

// newInstruments creates the instruments from the providers.
func newInstruments(tp trace.TracerProvider, mp metric.MeterProvider) (*instruments, error) {
	const scope = "github.com/bearerhttp/bearer"
	m := mp.Meter(scope)
	in := &instruments{tracer: tp.Tracer(scope)}
	var err error
	histogram := func(name, desc string) metric.Float64Histogram {
		h, e := m.Float64Histogram(name, metric.WithUnit("s"), metric.WithDescription(desc))
		err = errors.Join(err, e)
		return h
	}
	counter := func(name, desc string) metric.Int64Counter {
		c, e := m.Int64Counter(name, metric.WithUnit("{event}"), metric.WithDescription(desc))
		err = errors.Join(err, e)
		return c
	}
	in.tokenDuration = histogram("bearer.transport.token.duration", "Time the transport waited for its token source.")
	in.acquireDuration = histogram("bearer.acquisition.duration", "Duration of token acquisitions.")
	in.refreshDuration = histogram("bearer.refresh.duration", "Duration of background token refreshes.")
	in.challenges = counter("bearer.transport.challenges", "Challenges resources answered with.")
	in.resends = counter("bearer.transport.resends", "Requests sent again to answer a challenge.")
	in.withheld = counter("bearer.transport.withheld", "Requests a token was withheld from.")
	in.failures = counter("bearer.transport.challenge.failures", "Challenges the token source could not satisfy.")
	return in, err
}

// transportTrace returns the hooks of a bearer.Transport.
func (in *instruments) transportTrace() *bearer.TransportTrace {
	return &bearer.TransportTrace{
		TokenStart: func(ctx context.Context, info bearer.TokenStartInfo) context.Context {
			ctx, _ = in.tracer.Start(ctx, "bearer.token", trace.WithSpanKind(trace.SpanKindInternal),
				trace.WithAttributes(attrChallenge.String(challengeName(info.Challenge)), attrScopes.StringSlice(info.Scopes)))
			return ctx
		},
		TokenDone: func(ctx context.Context, info bearer.TokenDoneInfo) {
			attrs := []attribute.KeyValue{attrChallenge.String(challengeName(info.Challenge))}
			span := trace.SpanFromContext(ctx)
			if info.Err != nil {
				attrs = append(attrs, attrErrorType.String(errorType(info.Err)))
				span.SetStatus(codes.Error, info.Err.Error())
			}
			in.tokenDuration.Record(ctx, info.Duration.Seconds(), metric.WithAttributes(attrs...))
			span.End()
		},
		Challenge: func(ctx context.Context, info bearer.ChallengeInfo) {
			kind := attrChallenge.String(string(info.Kind))
			in.challenges.Add(ctx, 1, metric.WithAttributes(kind))
			trace.SpanFromContext(ctx).AddEvent("bearer.challenge", trace.WithAttributes(kind, attribute.Int("bearer.resends", info.Resends)))
		},
		Resend: func(ctx context.Context, info bearer.ResendInfo) {
			kind := attrChallenge.String(string(info.Kind))
			in.resends.Add(ctx, 1, metric.WithAttributes(kind))
			trace.SpanFromContext(ctx).AddEvent("bearer.resend", trace.WithAttributes(kind, attribute.Int("bearer.resend", info.Resend)))
		},
		TokenWithheld: func(ctx context.Context, info bearer.WithheldInfo) {
			reason := attrReason.String(string(info.Reason))
			in.withheld.Add(ctx, 1, metric.WithAttributes(reason))
			trace.SpanFromContext(ctx).AddEvent("bearer.token_withheld", trace.WithAttributes(reason))
		},
		ChallengeFailed: func(ctx context.Context, err *bearer.ChallengeError) {
			kind := attrChallenge.String(err.Challenge.Param("error"))
			in.failures.Add(ctx, 1, metric.WithAttributes(kind, attrErrorType.String(errorType(err.Err))))
			trace.SpanFromContext(ctx).AddEvent("bearer.challenge_failed", trace.WithAttributes(kind))
		},
	}
}

// flowTrace returns the hooks of a flow application (flow.WithTrace).
func (in *instruments) flowTrace() *flow.Trace {
	return &flow.Trace{
		AcquireStart: func(ctx context.Context, info flow.AcquireInfo) context.Context {
			ctx, span := in.tracer.Start(ctx, "bearer.acquire", trace.WithSpanKind(trace.SpanKindInternal),
				trace.WithAttributes(attrFlow.String(string(info.Kind)), attrScopes.StringSlice(info.Scopes),
					attribute.Bool("bearer.claims", info.Claims), attribute.Bool("bearer.force_refresh", info.ForceRefresh)))
			if info.Tenant != "" {
				span.SetAttributes(attrTenant.String(info.Tenant))
			}
			return ctx
		},
		AcquireDone: func(ctx context.Context, info flow.AcquireDoneInfo) {
			attrs := outcomeAttrs(info.Kind, info.Outcome, info.StatusCode, info.Err)
			in.acquireDuration.Record(ctx, info.Duration.Seconds(), metric.WithAttributes(attrs...))
			endSpan(trace.SpanFromContext(ctx), attrs, info.Err)
		},
		RefreshStart: func(ctx context.Context, info flow.RefreshInfo) context.Context {
			// The request that found the token due has ended by now: the
			// refresh is a trace of its own, linked to that request's.
			ctx, _ = in.tracer.Start(ctx, "bearer.refresh", trace.WithNewRoot(), trace.WithSpanKind(trace.SpanKindInternal),
				trace.WithLinks(trace.LinkFromContext(ctx)),
				trace.WithAttributes(attrFlow.String(string(info.Kind)), attrScopes.StringSlice(info.Scopes)))
			if info.Tenant != "" {
				trace.SpanFromContext(ctx).SetAttributes(attrTenant.String(info.Tenant))
			}
			return ctx
		},
		RefreshDone: func(ctx context.Context, info flow.RefreshDoneInfo) {
			attrs := outcomeAttrs(info.Kind, info.Outcome, info.StatusCode, info.Err)
			in.refreshDuration.Record(ctx, info.Duration.Seconds(), metric.WithAttributes(attrs...))
			endSpan(trace.SpanFromContext(ctx), attrs, info.Err)
		},
	}
}

// outcomeAttrs are the attributes of an acquisition's or refresh's end.
func outcomeAttrs(kind flow.Kind, outcome flow.Outcome, status int, err error) []attribute.KeyValue {
	attrs := []attribute.KeyValue{attrFlow.String(string(kind)), attrOutcome.String(string(outcome))}
	if status != 0 {
		attrs = append(attrs, attrStatus.Int(status))
	}
	if err != nil {
		attrs = append(attrs, attrErrorType.String(errorType(err)))
	}
	return attrs
}

func endSpan(span trace.Span, attrs []attribute.KeyValue, err error) {
	span.SetAttributes(attrs...)
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// challengeName names a challenge kind, "none" for a request's first
// token.
func challengeName(k bearer.ChallengeKind) string {
	if k == "" {
		return "none"
	}
	return string(k)
}

// errorType is a short, low-cardinality name of err, for error.type: the
// authority's OAuth error code, or what kind of failure it was.
func errorType(err error) string {
	var fe *flow.Error
	switch {
	case errors.As(err, &fe) && fe.Code != "":
		return fe.Code
	case errors.Is(err, bearer.ErrInteractionRequired):
		return "interaction_required"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.As(err, &fe):
		return strconv.Itoa(fe.StatusCode) // semantic conventions: the status, when there is nothing better
	}
	return "_OTHER"
}
