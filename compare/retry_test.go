package compare

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	msalerrors "github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"
	"github.com/bearerhttp/bearer/authtest"
	"github.com/bearerhttp/bearer/flow"
)

// waits records the waits bearer's retry policy asks for, without waiting.
type waits struct {
	mu sync.Mutex
	d  []time.Duration
}

func (w *waits) sleep(_ context.Context, d time.Duration) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.d = append(w.d, d)
	return nil
}

func (w *waits) all() []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]time.Duration(nil), w.d...)
}

// TestCompareRetryAfter: the token endpoint answers once 429 or 503 with
// Retry-After: 1, then normally. MSAL Go makes one token request and
// returns the error; bearer waits the second the authority asked for and
// gets the token with its second request.
func TestCompareRetryAfter(t *testing.T) {
	for _, status := range []int{http.StatusTooManyRequests, http.StatusServiceUnavailable} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			srv := newAuthority(t)
			authority := srv.Authority(authtest.DefaultTenant)
			ctx := context.Background()
			fault := authtest.Fault{Status: status, RetryAfter: "1"}

			t.Run("MSAL Go fails", func(t *testing.T) {
				srv.ResetRequests()
				srv.InjectFaults(1, fault)
				app := newMSAL(t, authority, srv.Client())
				_, err := app.AcquireTokenByCredential(ctx, graphScopes)
				var callErr msalerrors.CallErr
				if !errors.As(err, &callErr) || callErr.Resp == nil || callErr.Resp.StatusCode != status {
					t.Fatalf("AcquireTokenByCredential: %v, want a CallErr with status %d", err, status)
				}
				if n := srv.TokenRequests(); n != 1 {
					t.Errorf("MSAL Go made %d token requests, want 1 (no retry)", n)
				}
			})

			t.Run("bearer retries", func(t *testing.T) {
				srv.ResetRequests()
				srv.InjectFaults(1, fault)
				w := &waits{}
				app := newBearer(t, authority, srv.Client(), flow.WithRetryPolicy(flow.RetryPolicy{Sleep: w.sleep}))
				res, err := app.AcquireTokenForClient(ctx, graphScopes)
				if err != nil {
					t.Fatalf("AcquireTokenForClient: %v", err)
				}
				if res.AccessToken == "" {
					t.Error("no access token")
				}
				if n := srv.TokenRequests(); n != 2 {
					t.Errorf("bearer made %d token requests, want 2", n)
				}
				if got := w.all(); len(got) != 1 || got[0] != time.Second {
					t.Errorf("bearer waited %v, want [1s] (Retry-After: 1)", got)
				}
			})
		})
	}
}
