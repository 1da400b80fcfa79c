package flow_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/bearerhttp/bearer/authtest"
	"github.com/bearerhttp/bearer/credential"
	"github.com/bearerhttp/bearer/flow"
)

// ExampleWithTrace reports each token acquisition: where the token came
// from, the authority's status, how long it took. A real program would
// feed metrics or spans from the hooks (see examples/otel for
// OpenTelemetry).
func ExampleWithTrace() {
	srv := authtest.NewTLSServer(nil)
	defer srv.Close()
	srv.AddClient(authtest.Client{ID: "my-daemon", Secret: "s3cret"})

	var waited time.Duration // time spent acquiring tokens (a histogram, in a real program)
	trace := &flow.Trace{
		AcquireStart: func(ctx context.Context, info flow.AcquireInfo) context.Context {
			fmt.Printf("start: %s %v claims=%v\n", info.Kind, info.Scopes, info.Claims)
			return ctx // a hook could start a span here, and return its context
		},
		AcquireDone: func(ctx context.Context, info flow.AcquireDoneInfo) {
			waited += info.Duration
			fmt.Printf("done: %s, status %d, error: %v\n", info.Outcome, info.StatusCode, info.Err)
		},
	}
	app, err := flow.NewConfidential("my-daemon", credential.Secret("s3cret"),
		flow.WithAuthority("https://login.microsoftonline.com/contoso.com"),
		flow.WithHTTPClient(srv.Client()),
		flow.WithTrace(trace))
	if err != nil {
		log.Fatal(err)
	}
	scopes := []string{"https://graph.microsoft.com/.default"}
	for range 2 {
		if _, err := app.AcquireTokenForClient(context.Background(), scopes); err != nil {
			log.Fatal(err)
		}
	}
	// An authority's error reaches the hook too.
	srv.InjectFaults(1, authtest.Fault{Status: 400, Error: "invalid_scope"})
	_, err = app.AcquireTokenForClient(context.Background(), scopes, flow.ForceRefresh())
	fmt.Println("returned an error:", err != nil)
	// Output:
	// start: client_credentials [https://graph.microsoft.com/.default] claims=false
	// done: fetched, status 200, error: <nil>
	// start: client_credentials [https://graph.microsoft.com/.default] claims=false
	// done: cache_hit, status 0, error: <nil>
	// start: client_credentials [https://graph.microsoft.com/.default] claims=false
	// done: failed, status 400, error: flow: authority error 400 invalid_scope
	// returned an error: true
}

// ExampleTrace_backgroundRefresh reports a background refresh: a token
// past its RefreshOn keeps serving from the cache while a refresh runs
// in its own goroutine, which RefreshStart and RefreshDone hear from.
func ExampleTrace_backgroundRefresh() {
	srv := authtest.NewTLSServer(nil, authtest.WithTokenLifetime(4*time.Hour)) // refresh_in: 2 h
	defer srv.Close()
	srv.AddClient(authtest.Client{ID: "my-daemon", Secret: "s3cret"})
	start := time.Date(2030, 1, 2, 3, 0, 0, 0, time.UTC)
	srv.SetNow(start)

	refreshed := make(chan flow.RefreshDoneInfo, 1)
	app, err := flow.NewConfidential("my-daemon", credential.Secret("s3cret"),
		flow.WithAuthority("https://login.microsoftonline.com/contoso.com"),
		flow.WithHTTPClient(srv.Client()),
		flow.WithClock(srv.Now), // the application and authtest share a clock
		flow.WithTrace(&flow.Trace{
			RefreshStart: func(ctx context.Context, info flow.RefreshInfo) context.Context {
				fmt.Printf("refresh: %s %v due since %s\n", info.Kind, info.Scopes, info.RefreshOn.Sub(start))
				return ctx
			},
			RefreshDone: func(ctx context.Context, info flow.RefreshDoneInfo) { refreshed <- info },
		}))
	if err != nil {
		log.Fatal(err)
	}
	scopes := []string{"https://graph.microsoft.com/.default"}
	if _, err := app.AcquireTokenForClient(context.Background(), scopes); err != nil {
		log.Fatal(err)
	}
	srv.Advance(2 * time.Hour)
	r, err := app.AcquireTokenForClient(context.Background(), scopes)
	if err != nil {
		log.Fatal(err)
	}
	info := <-refreshed
	fmt.Println("served from the cache:", r.FromCache)
	fmt.Printf("refresh done: %s, status %d, error: %v\n", info.Outcome, info.StatusCode, info.Err)
	// Output:
	// refresh: client_credentials [https://graph.microsoft.com/.default] due since 2h0m0s
	// served from the cache: true
	// refresh done: fetched, status 200, error: <nil>
}
