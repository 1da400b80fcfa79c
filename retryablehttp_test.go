package bearer_test

import (
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bearerhttp/bearer"
	"github.com/bearerhttp/bearer/authtest"
	"github.com/bearerhttp/bearer/credential"
	"github.com/bearerhttp/bearer/flow"
	"github.com/hashicorp/go-retryablehttp"
)

// TestRetryableHTTPOverTransport: a go-retryablehttp client whose
// transport is bearer.Transport retries a resource's 429 and 503 with
// the wait their Retry-After asks for, and each attempt carries a token
// valid when it is sent: bearer asks its source on every attempt, so a
// token that expired during the wait is replaced, and a claims challenge
// met by a retry is answered inside that attempt (retryablehttp never
// sees the 401). The backoff records the wait and moves the clock that
// authtest and the application share, instead of sleeping.
func TestRetryableHTTPOverTransport(t *testing.T) {
	const clientID = "0c0c0c0c-1111-4222-8333-444444444444"
	tests := []struct {
		name string
		// fault is what Graph answers the first attempt.
		fault authtest.Fault
		// duringWait happens while the client waits out the fault.
		duringWait func(srv *authtest.Server, wait time.Duration)
		wantWaits  []time.Duration
		wantTokens int    // token requests at the authority
		wantSent   []int  // Graph's answers, in order
		wantClaims string // in the last token request, when not ""
	}{
		{"429: the token expires during the wait",
			authtest.Fault{Endpoint: authtest.EndpointResource, Status: http.StatusTooManyRequests, RetryAfter: "3600"},
			func(srv *authtest.Server, wait time.Duration) { srv.Advance(wait) },
			[]time.Duration{time.Hour}, 2, []int{429, 200}, ""},
		{"503: the token is revoked during the wait",
			authtest.Fault{Endpoint: authtest.EndpointResource, Status: http.StatusServiceUnavailable, RetryAfter: "2"},
			func(srv *authtest.Server, wait time.Duration) { srv.Advance(wait); srv.Revoke(clientID) },
			[]time.Duration{2 * time.Second}, 2, []int{503, 401, 200}, `"nbf"`},
		{"429 twice",
			authtest.Fault{Endpoint: authtest.EndpointResource, Status: http.StatusTooManyRequests, RetryAfter: "5"},
			func(srv *authtest.Server, wait time.Duration) {
				srv.Advance(wait)
				if wait == 5*time.Second && srv.CountRequests(authtest.EndpointResource) == 1 {
					srv.InjectFaults(1, authtest.Fault{Endpoint: authtest.EndpointResource, Status: http.StatusTooManyRequests, RetryAfter: "7"})
				}
			},
			[]time.Duration{5 * time.Second, 7 * time.Second}, 1, []int{429, 429, 200}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := authtest.NewTLSServer(t, authtest.WithLogger(slog.New(slog.DiscardHandler)))
			srv.AddClient(authtest.Client{ID: clientID, Secret: "retry-test-not-a-real-secret"})
			app, err := flow.NewConfidential(clientID, credential.Secret("retry-test-not-a-real-secret"),
				flow.WithAuthority(srv.Authority("contoso.com")),
				flow.WithCapabilities("cp1"),
				flow.WithClock(srv.Now),
				flow.WithHTTPClient(srv.Client()))
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var waits []time.Duration
			rc := &retryablehttp.Client{
				HTTPClient: &http.Client{Transport: &bearer.Transport{
					Source: app.ClientSource(),
					Scopes: []string{"https://graph.microsoft.com/.default"},
					Base:   srv.Client().Transport,
				}},
				RetryMax:     3,
				RetryWaitMin: time.Second,
				RetryWaitMax: 2 * time.Hour,
				CheckRetry:   retryablehttp.DefaultRetryPolicy,
				Backoff: func(min, max time.Duration, attempt int, resp *http.Response) time.Duration {
					wait := retryablehttp.DefaultBackoff(min, max, attempt, resp)
					mu.Lock()
					waits = append(waits, wait)
					mu.Unlock()
					tt.duringWait(srv, wait)
					return 0 // waited on the shared clock instead
				},
			}
			srv.InjectFaults(1, tt.fault)

			resp, err := rc.Get("https://graph.microsoft.com/v1.0/users")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %s, want 200 OK", resp.Status)
			}
			mu.Lock()
			defer mu.Unlock()
			if !slices.Equal(waits, tt.wantWaits) {
				t.Errorf("waits asked for %v, want %v", waits, tt.wantWaits)
			}

			toks := srv.RequestsTo(authtest.EndpointToken)
			if len(toks) != tt.wantTokens {
				t.Errorf("%d token requests, want %d", len(toks), tt.wantTokens)
			}
			if tt.wantClaims != "" && (len(toks) == 0 || !strings.Contains(toks[len(toks)-1].Form.Get("claims"), tt.wantClaims)) {
				t.Errorf("the last token request did not carry the challenge's claims")
			}
			var sent []int
			tokens := map[string]bool{}
			for _, r := range srv.RequestsTo(authtest.EndpointResource) {
				sent = append(sent, r.Status)
				tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
				if !ok || tok == "" {
					t.Errorf("attempt answered %d went without a token", r.Status)
					continue
				}
				tokens[tok] = true
			}
			if !slices.Equal(sent, tt.wantSent) {
				t.Errorf("Graph answered %v, want %v", sent, tt.wantSent)
			}
			if len(tokens) != tt.wantTokens {
				t.Errorf("the attempts carried %d distinct tokens, want %d (one per token request)", len(tokens), tt.wantTokens)
			}
		})
	}
}
