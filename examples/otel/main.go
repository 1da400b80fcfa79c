// Command otel wires bearer's hooks to OpenTelemetry: the transport's
// (bearer.TransportTrace) and the token sources' (flow.Trace) become
// metrics and spans, beside otelhttp's spans of the HTTP requests
// themselves. hooks.go is the part to copy into a program.
//
// It needs no Azure tenant and no collector: it starts authtest, bearer's
// local Entra-compatible authority, in-process (posing as
// login.microsoftonline.com and graph.microsoft.com), and keeps what it
// records in memory (the SDK's ManualReader and a span recorder), then
// prints it. A real program gives the providers exporters instead:
//
//	cd examples/otel && go run .
package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/bearerhttp/bearer"
	"github.com/bearerhttp/bearer/authtest"
	"github.com/bearerhttp/bearer/credential"
	"github.com/bearerhttp/bearer/flow"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	if err := run(ctx, os.Stdout, tp, mp); err != nil {
		fmt.Fprintln(os.Stderr, "otel:", err)
		os.Exit(1)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		fmt.Fprintln(os.Stderr, "otel:", err)
		os.Exit(1)
	}
	fmt.Println("\nSpans:")
	printSpans(os.Stdout, spans.Ended())
	fmt.Println("\nMetrics:")
	printMetrics(os.Stdout, rm)
}

const (
	clientID = "0e1e2e3e-4e5e-4e6e-8e7e-9e0e1e2e3e4e"
	// A made-up secret for the local authority.
	clientSecret = "otel-example-not-a-real-secret"
	tenant       = "contoso.onmicrosoft.com"
)

// run makes a daemon's calls to Graph through an instrumented transport
// and application: a first call (a token from the authority), a second
// (from the cache), one after the authority revoked the token (a claims
// challenge, a new token, a resend), one past the token's refresh time
// (a background refresh), and one to a host the token must not go to.
func run(ctx context.Context, w io.Writer, tp trace.TracerProvider, mp metric.MeterProvider) error {
	say := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	srv, err := authtest.Start(authtest.WithTLS(), authtest.WithTokenLifetime(4*time.Hour)) // refresh_in: 2 h
	if err != nil {
		return err
	}
	defer srv.Close()
	srv.SetNow(time.Date(2030, 1, 2, 9, 0, 0, 0, time.UTC))
	srv.AddClient(authtest.Client{ID: clientID, Secret: clientSecret, Name: "otel daemon"})

	in, err := newInstruments(tp, mp)
	if err != nil {
		return err
	}
	// Only this example waits for the background refresh to end, to show
	// it; a second Trace is told too.
	refreshed := make(chan struct{}, 1)
	app, err := flow.NewConfidential(clientID, credential.Secret(clientSecret),
		flow.WithAuthority("https://login.microsoftonline.com/"+tenant),
		flow.WithCapabilities("cp1"),
		flow.WithClock(srv.Now), // authtest's clock, moved below instead of waiting
		// The requests to the authority get otelhttp spans, children of
		// the acquisitions' spans.
		flow.WithHTTPClient(&http.Client{Transport: otelhttp.NewTransport(srv.Transport(),
			otelhttp.WithTracerProvider(tp), otelhttp.WithMeterProvider(mp))}),
		flow.WithTrace(in.flowTrace()),
		flow.WithTrace(&flow.Trace{RefreshDone: func(context.Context, flow.RefreshDoneInfo) { refreshed <- struct{}{} }}),
	)
	if err != nil {
		return err
	}
	// otelhttp outside bearer.Transport: its span covers the whole
	// exchange, resends included, and is the parent of bearer's.
	graph := &http.Client{Transport: otelhttp.NewTransport(&bearer.Transport{
		Source: app.ClientSource(),
		Scopes: []string{"https://graph.microsoft.com/.default"},
		Base:   srv.Transport(),
		Trace:  in.transportTrace(),
	}, otelhttp.WithTracerProvider(tp), otelhttp.WithMeterProvider(mp))}

	say("1. A first call: a token from the authority.")
	if err := get(ctx, graph, "https://graph.microsoft.com/v1.0/users"); err != nil {
		return err
	}
	say("2. A second: the token from the cache.")
	if err := get(ctx, graph, "https://graph.microsoft.com/v1.0/users"); err != nil {
		return err
	}
	srv.Revoke(clientID)
	say("3. The authority revoked the token: a claims challenge, a new token, a resend.")
	if err := get(ctx, graph, "https://graph.microsoft.com/v1.0/users"); err != nil {
		return err
	}
	srv.Advance(2 * time.Hour)
	say("4. Two hours on: the token is served from the cache and refreshed in the background.")
	if err := get(ctx, graph, "https://graph.microsoft.com/v1.0/users"); err != nil {
		return err
	}
	select {
	case <-refreshed:
	case <-ctx.Done():
		return ctx.Err()
	}
	say("5. A request to another host goes without the token.")
	if err := get(ctx, graph, srv.URL+"/not-graph"); err == nil || !strings.Contains(err.Error(), "404") {
		return fmt.Errorf("the other host: %v, want its 404", err)
	}
	return nil
}

// get sends a GET through c and reads the answer, which must be 200.
func get(ctx context.Context, c *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	return nil
}

// printSpans prints spans as trees, children under their parent, each
// with its events.
func printSpans(w io.Writer, spans []sdktrace.ReadOnlySpan) {
	children := map[trace.SpanID][]sdktrace.ReadOnlySpan{}
	ids := map[trace.SpanID]bool{}
	for _, s := range spans {
		ids[s.SpanContext().SpanID()] = true
	}
	var roots []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if p := s.Parent(); p.IsValid() && ids[p.SpanID()] {
			children[p.SpanID()] = append(children[p.SpanID()], s)
		} else {
			roots = append(roots, s)
		}
	}
	byStart := func(a, b sdktrace.ReadOnlySpan) int { return a.StartTime().Compare(b.StartTime()) }
	var walk func(s sdktrace.ReadOnlySpan, depth int)
	walk = func(s sdktrace.ReadOnlySpan, depth int) {
		var attrs []string
		for _, kv := range s.Attributes() {
			if strings.HasPrefix(string(kv.Key), "bearer.") || kv.Key == "http.response.status_code" {
				attrs = append(attrs, string(kv.Key)+"="+kv.Value.Emit())
			}
		}
		fmt.Fprintf(w, "%s%s %s\n", strings.Repeat("  ", depth), s.Name(), strings.Join(attrs, " "))
		for _, e := range s.Events() {
			fmt.Fprintf(w, "%s  (event %s)\n", strings.Repeat("  ", depth), e.Name)
		}
		kids := children[s.SpanContext().SpanID()]
		slices.SortFunc(kids, byStart)
		for _, c := range kids {
			walk(c, depth+1)
		}
	}
	slices.SortFunc(roots, byStart)
	for _, r := range roots {
		walk(r, 0)
	}
}

// printMetrics prints bearer's instruments: each data point's attributes
// and its count (histograms) or sum (counters).
func printMetrics(w io.Writer, rm metricdata.ResourceMetrics) {
	enc := attribute.DefaultEncoder()
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if !strings.HasPrefix(m.Name, "bearer.") {
				continue
			}
			var lines []string
			switch d := m.Data.(type) {
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					lines = append(lines, fmt.Sprintf("  %s count=%d", p.Attributes.Encoded(enc), p.Count))
				}
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					lines = append(lines, fmt.Sprintf("  %s sum=%d", p.Attributes.Encoded(enc), p.Value))
				}
			}
			slices.SortFunc(lines, cmp.Compare)
			fmt.Fprintf(w, "%s\n%s\n", m.Name, strings.Join(lines, "\n"))
		}
	}
}
