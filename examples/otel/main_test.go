package main

import (
	"bytes"
	"context"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// TestOpenTelemetry runs the example with the SDK's in-memory reader and
// span recorder, and checks what bearer's hooks recorded: each
// instrument's data points, and the spans with their parents, links and
// events.
func TestOpenTelemetry(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	var out bytes.Buffer
	if err := run(ctx, &out, tp, mp); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}

	t.Run("metrics", func(t *testing.T) {
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(ctx, &rm); err != nil {
			t.Fatal(err)
		}
		// Each instrument's data points: attributes → count (histograms)
		// or sum (counters).
		want := map[string]map[string]int64{
			"bearer.transport.token.duration": {
				"bearer.challenge=none":                4, // one per call to Graph
				"bearer.challenge=insufficient_claims": 1,
			},
			"bearer.transport.challenges": {"bearer.challenge=insufficient_claims": 1},
			"bearer.transport.resends":    {"bearer.challenge=insufficient_claims": 1},
			"bearer.transport.withheld":   {"bearer.withheld.reason=host_not_allowed": 1},
			"bearer.acquisition.duration": {
				"bearer.flow=client_credentials,bearer.outcome=fetched,http.response.status_code=200": 2,
				"bearer.flow=client_credentials,bearer.outcome=cache_hit":                             3,
			},
			"bearer.refresh.duration": {
				"bearer.flow=client_credentials,bearer.outcome=fetched,http.response.status_code=200": 1,
			},
		}
		got := map[string]map[string]int64{}
		enc := attribute.DefaultEncoder()
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				if !strings.HasPrefix(m.Name, "bearer.") {
					continue
				}
				points := map[string]int64{}
				switch d := m.Data.(type) {
				case metricdata.Histogram[float64]:
					if m.Unit != "s" {
						t.Errorf("%s: unit %q, want s", m.Name, m.Unit)
					}
					for _, p := range d.DataPoints {
						points[p.Attributes.Encoded(enc)] = int64(p.Count)
						if low, ok := p.Min.Value(); !ok || low < 0 {
							t.Errorf("%s: a negative duration", m.Name)
						}
					}
				case metricdata.Sum[int64]:
					if !d.IsMonotonic {
						t.Errorf("%s is not a counter", m.Name)
					}
					for _, p := range d.DataPoints {
						points[p.Attributes.Encoded(enc)] = p.Value
					}
				default:
					t.Errorf("%s: unexpected data %T", m.Name, m.Data)
				}
				got[m.Name] = points
			}
		}
		for name, w := range want {
			if !mapsEqual(got[name], w) {
				t.Errorf("%s = %v, want %v", name, got[name], w)
			}
		}
		if _, ok := got["bearer.transport.challenge.failures"]; ok {
			t.Errorf("challenge failures recorded: %v", got["bearer.transport.challenge.failures"])
		}
	})

	t.Run("spans", func(t *testing.T) {
		ended := spans.Ended()
		byID := map[trace.SpanID]sdktrace.ReadOnlySpan{}
		for _, s := range ended {
			byID[s.SpanContext().SpanID()] = s
		}
		parent := func(s sdktrace.ReadOnlySpan) sdktrace.ReadOnlySpan { return byID[s.Parent().SpanID()] }
		attr := func(s sdktrace.ReadOnlySpan, key string) string {
			for _, kv := range s.Attributes() {
				if string(kv.Key) == key {
					return kv.Value.Emit()
				}
			}
			return ""
		}
		named := func(name string) []sdktrace.ReadOnlySpan {
			var out []sdktrace.ReadOnlySpan
			for _, s := range ended {
				if s.Name() == name {
					out = append(out, s)
				}
			}
			sort.Slice(out, func(i, j int) bool { return out[i].StartTime().Before(out[j].StartTime()) })
			return out
		}

		// The transport's source calls: children of otelhttp's client
		// spans of the calls to Graph.
		tokens := named("bearer.token")
		var kinds []string
		for _, s := range tokens {
			kinds = append(kinds, attr(s, "bearer.challenge"))
			if p := parent(s); p == nil || p.SpanKind() != trace.SpanKindClient || p.Name() != "HTTP GET" {
				t.Errorf("bearer.token's parent is %v, want the HTTP client span", p)
			}
		}
		if want := []string{"none", "none", "none", "insufficient_claims", "none"}; !slices.Equal(kinds, want) {
			t.Errorf("bearer.token spans by challenge: %v, want %v", kinds, want)
		}

		// The acquisitions: children of the transport's source calls;
		// those that asked the authority have its request as a child.
		var outcomes []string
		for _, s := range named("bearer.acquire") {
			outcomes = append(outcomes, attr(s, "bearer.outcome")+"/"+attr(s, "bearer.claims"))
			if p := parent(s); p == nil || p.Name() != "bearer.token" {
				t.Errorf("bearer.acquire's parent is %v, want bearer.token", p)
			}
		}
		if want := []string{"fetched/false", "cache_hit/false", "cache_hit/false", "fetched/true", "cache_hit/false"}; !slices.Equal(outcomes, want) {
			t.Errorf("acquisitions: %v, want %v", outcomes, want)
		}
		var authority []string
		for _, s := range named("HTTP POST") {
			p := parent(s)
			if p == nil {
				t.Errorf("a request to the authority has no parent span")
				continue
			}
			authority = append(authority, p.Name()+"/"+attr(s, "http.response.status_code"))
		}
		if want := []string{"bearer.acquire/200", "bearer.acquire/200", "bearer.refresh/200"}; !slices.Equal(authority, want) {
			t.Errorf("requests to the authority under %v, want %v", authority, want)
		}

		// The background refresh: a root, linked to the call that found
		// the token due (the fourth call to Graph).
		refreshes := named("bearer.refresh")
		if len(refreshes) != 1 {
			t.Fatalf("%d bearer.refresh spans, want 1", len(refreshes))
		}
		r := refreshes[0]
		gets := named("HTTP GET")
		if r.Parent().IsValid() || len(r.Links()) != 1 || len(gets) != 5 || r.Links()[0].SpanContext.TraceID() != gets[3].SpanContext().TraceID() {
			t.Errorf("bearer.refresh: parent %v, links %v; want a root linked to the fourth call's trace", r.Parent(), r.Links())
		}
		if attr(r, "bearer.outcome") != "fetched" {
			t.Errorf("bearer.refresh outcome %q", attr(r, "bearer.outcome"))
		}

		// Events on the calls' spans: the challenge and resend on the
		// third, the withheld token on the fifth, none elsewhere.
		var events []string
		for i, s := range gets {
			for _, e := range s.Events() {
				events = append(events, string(rune('1'+i))+":"+e.Name)
			}
		}
		if want := []string{"3:bearer.challenge", "3:bearer.resend", "5:bearer.token_withheld"}; !slices.Equal(events, want) {
			t.Errorf("events %v, want %v", events, want)
		}

		// No span holds a token: authtest's tokens are JWTs ("eyJ…").
		for _, s := range ended {
			for _, kv := range s.Attributes() {
				if strings.Contains(kv.Value.Emit(), "eyJ") {
					t.Errorf("span %s holds a token in %s", s.Name(), kv.Key)
				}
			}
			for _, e := range s.Events() {
				for _, kv := range e.Attributes {
					if strings.Contains(kv.Value.Emit(), "eyJ") {
						t.Errorf("event %s holds a token in %s", e.Name, kv.Key)
					}
				}
			}
		}
	})
}

func mapsEqual(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
