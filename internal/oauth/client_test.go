package oauth

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRetry(t *testing.T) {
	date := testNow.Add(5 * time.Second).UTC().Format(http.TimeFormat)
	tests := []struct {
		name     string
		steps    []step
		noRetry  bool
		attempts int             // attempts the server sees
		waits    []time.Duration // waits asked for; nil = check range only
		expRange bool            // waits are exponential with jitter
		status   int             // status of the final error; 0 = success
	}{
		{name: "429_with_Retry-After_seconds", steps: []step{status(429, "Retry-After", "7")}, attempts: 2, waits: []time.Duration{7 * time.Second}},
		{name: "429_with_Retry-After_date", steps: []step{status(429, "Retry-After", date)}, attempts: 2, waits: []time.Duration{5 * time.Second}},
		{name: "503_with_Retry-After", steps: []step{status(503, "Retry-After", "3")}, attempts: 2, waits: []time.Duration{3 * time.Second}},
		{name: "500_with_Retry-After", steps: []step{status(500, "Retry-After", "2")}, attempts: 2, waits: []time.Duration{2 * time.Second}},
		{name: "Retry-After_in_the_past_means_no_wait", steps: []step{status(429, "Retry-After", testNow.Add(-time.Minute).Format(http.TimeFormat))}, attempts: 2, waits: []time.Duration{0}},
		{name: "429_without_Retry-After_backs_off", steps: []step{status(429)}, attempts: 2, expRange: true},
		{name: "unreadable_Retry-After_backs_off", steps: []step{status(429, "Retry-After", "soon")}, attempts: 2, expRange: true},
		{name: "500_retried", steps: []step{status(500)}, attempts: 2, expRange: true},
		{name: "502_retried", steps: []step{status(502)}, attempts: 2, expRange: true},
		{name: "503_retried", steps: []step{status(503)}, attempts: 2, expRange: true},
		{name: "504_retried", steps: []step{status(504)}, attempts: 2, expRange: true},
		{name: "connection_dropped_retried", steps: []step{hangUp}, attempts: 2, expRange: true},
		{name: "two_retries_then_success", steps: []step{status(503), hangUp}, attempts: 3, expRange: true},
		{name: "gives_up_after_two_retries", steps: []step{status(503), status(502), status(504)}, attempts: 3, expRange: true, status: 504},
		{name: "400_not_retried", steps: []step{status(400)}, attempts: 1, status: 400},
		{name: "401_not_retried", steps: []step{status(401)}, attempts: 1, status: 401},
		{name: "403_not_retried", steps: []step{status(403)}, attempts: 1, status: 403},
		{name: "404_not_retried", steps: []step{status(404)}, attempts: 1, status: 404},
		{name: "408_not_retried", steps: []step{status(408)}, attempts: 1, status: 408},
		{name: "501_not_retried", steps: []step{status(501)}, attempts: 1, status: 501},
		{name: "505_not_retried", steps: []step{status(505)}, attempts: 1, status: 505},
		{name: "no_retry_for_code_redemption", steps: []step{status(503, "Retry-After", "1")}, noRetry: true, attempts: 1, status: 503},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newAuthority(t, tt.steps...)
			var sl sleeps
			var sg signer
			c := testClient(&sl)
			req := tokenRequest(srv.URL, &sg)
			req.NoRetry = tt.noRetry
			tok, err := c.Token(context.Background(), req)
			seen := srv.seen()
			if len(seen) != tt.attempts {
				t.Fatalf("server saw %d attempts, want %d", len(seen), tt.attempts)
			}
			if got := sg.calls.Load(); got != int64(tt.attempts) {
				t.Errorf("Authenticate called %d times for %d attempts", got, tt.attempts)
			}
			waits := sl.got()
			if len(waits) != tt.attempts-1 {
				t.Fatalf("waits asked for = %v, want %d of them", waits, tt.attempts-1)
			}
			if tt.waits != nil {
				for i := range waits {
					if waits[i] != tt.waits[i] {
						t.Errorf("wait %d = %v, want %v", i, waits[i], tt.waits[i])
					}
				}
			}
			if tt.expRange {
				for i, w := range waits {
					b := time.Second << i
					if w < b/2 || w >= b {
						t.Errorf("wait before retry %d = %v, want in [%v, %v)", i+1, w, b/2, b)
					}
				}
			}
			if tt.status == 0 {
				if err != nil {
					t.Fatalf("Token: %v", err)
				}
				if tok.AccessToken != "at-secret-value" {
					t.Errorf("AccessToken = %q", tok.AccessToken)
				}
				return
			}
			var re *ResponseError
			if !errors.As(err, &re) {
				t.Fatalf("error = %v, want a *ResponseError", err)
			}
			if re.StatusCode != tt.status {
				t.Errorf("StatusCode = %d, want %d", re.StatusCode, tt.status)
			}
		})
	}
}

func TestRetryAttemptsCarryFreshAssertionsAndOneRequestID(t *testing.T) {
	srv := newAuthority(t, status(503), hangUp)
	var sl sleeps
	var sg signer
	c := testClient(&sl)
	if _, err := c.Token(context.Background(), tokenRequest(srv.URL, &sg)); err != nil {
		t.Fatal(err)
	}
	seen := srv.seen()
	if len(seen) != 3 {
		t.Fatalf("%d attempts, want 3", len(seen))
	}
	assertions := map[string]bool{}
	for i, a := range seen {
		as := a.Form.Get("client_assertion")
		if as == "" || assertions[as] {
			t.Errorf("attempt %d: client_assertion %q is empty or was sent before", i, as)
		}
		assertions[as] = true
		if len(a.Form["client_assertion"]) != 1 {
			t.Errorf("attempt %d: %d client_assertion fields, want 1", i, len(a.Form["client_assertion"]))
		}
		if a.Header.Get("client-request-id") != seen[0].Header.Get("client-request-id") {
			t.Errorf("attempt %d: client-request-id %q differs from the first attempt's %q", i, a.Header.Get("client-request-id"), seen[0].Header.Get("client-request-id"))
		}
	}
	// A new call has a new request ID.
	if _, err := c.Token(context.Background(), tokenRequest(srv.URL, &sg)); err != nil {
		t.Fatal(err)
	}
	seen = srv.seen()
	if seen[3].Header.Get("client-request-id") == seen[0].Header.Get("client-request-id") {
		t.Error("two calls share a client-request-id")
	}
}

func TestRetryStopsWhenTheWaitPassesTheDeadline(t *testing.T) {
	srv := newAuthority(t, status(429, "Retry-After", "7200"))
	var sl sleeps
	var sg signer
	c := testClient(&sl) // a wait is recorded, not waited for
	// A deadline no loaded machine reaches during the call, and that the
	// wait asked for (2 h) passes.
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	_, err := c.Token(ctx, tokenRequest(srv.URL, &sg))
	if w := sl.got(); len(w) != 0 || ctx.Err() != nil {
		t.Fatalf("Token waited (%v) for a retry past the deadline", w)
	}
	var re *ResponseError
	if !errors.As(err, &re) || re.StatusCode != 429 {
		t.Fatalf("error = %v, want the 429 response error", err)
	}
	if re.StoppedRetry != 2*time.Hour {
		t.Errorf("StoppedRetry = %v, want 2h", re.StoppedRetry)
	}
	if !strings.Contains(err.Error(), "not retried") {
		t.Errorf("error %q does not say why it was not retried", err)
	}
	if n := len(srv.seen()); n != 1 {
		t.Errorf("%d attempts, want 1", n)
	}
}

func TestRetryWaitEndsWithTheContext(t *testing.T) {
	srv := newAuthority(t, status(503, "Retry-After", "1"))
	var sg signer
	ctx, cancel := context.WithCancel(context.Background())
	c := &Client{Sleep: func(ctx context.Context, d time.Duration) error {
		cancel() // the caller gives up during the wait
		<-ctx.Done()
		return ctx.Err()
	}}
	_, err := c.Token(ctx, tokenRequest(srv.URL, &sg))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v, want context.Canceled", err)
	}
	if n := len(srv.seen()); n != 1 {
		t.Errorf("%d attempts, want 1", n)
	}
	if n := sg.calls.Load(); n != 1 {
		t.Errorf("Authenticate called %d times, want 1", n)
	}
}

func TestAuthenticateErrorSendsNothing(t *testing.T) {
	srv := newAuthority(t)
	errBad := errors.New("no key")
	req := tokenRequest(srv.URL, &signer{})
	req.Authenticate = func(context.Context, url.Values, http.Header) error { return errBad }
	_, err := (&Client{}).Token(context.Background(), req)
	if !errors.Is(err, errBad) {
		t.Fatalf("error = %v, want it to wrap the credential's error", err)
	}
	if n := len(srv.seen()); n != 0 {
		t.Errorf("%d requests sent, want 0", n)
	}
}

func TestDefaultTimeoutOnlyWithoutDeadline(t *testing.T) {
	srv := newAuthority(t)
	var asked []time.Duration
	c := &Client{WithTimeout: func(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
		asked = append(asked, d)
		return context.WithTimeout(ctx, d)
	}}
	if _, err := c.Token(context.Background(), tokenRequest(srv.URL, &signer{})); err != nil {
		t.Fatal(err)
	}
	if len(asked) != 1 || asked[0] != 30*time.Second {
		t.Errorf("timeouts asked = %v, want [30s]", asked)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := c.Token(ctx, tokenRequest(srv.URL, &signer{})); err != nil {
		t.Fatal(err)
	}
	if len(asked) != 1 {
		t.Errorf("a default timeout was set for a context with a deadline")
	}
	c.Timeout = 5 * time.Second
	if _, err := c.Token(context.Background(), tokenRequest(srv.URL, &signer{})); err != nil {
		t.Fatal(err)
	}
	if asked[len(asked)-1] != 5*time.Second {
		t.Errorf("configured timeout asked = %v, want 5s", asked[len(asked)-1])
	}
}

func TestTimeoutEndsAHungCall(t *testing.T) {
	release := make(chan struct{})
	srv := newAuthority(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	var sl sleeps
	c := testClient(&sl)
	c.WithTimeout = func(ctx context.Context, _ time.Duration) (context.Context, context.CancelFunc) {
		return context.WithTimeout(ctx, 50*time.Millisecond) // stands for the 30 s default
	}
	_, err := c.Token(context.Background(), tokenRequest(srv.URL, &signer{}))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error = %v, want context.DeadlineExceeded", err)
	}
}

func TestResponseSizeLimit(t *testing.T) {
	big := strings.Repeat("x", DefaultMaxResponseBytes+1)
	tests := []struct {
		name    string
		handler step
		tooBig  bool
	}{
		{"over_the_limit_with_Content-Length", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Length", "1048577")
			io.WriteString(w, big)
		}, true},
		{"over_the_limit_chunked", func(w http.ResponseWriter, _ *http.Request) {
			io.WriteString(w, big[:1000])
			w.(http.Flusher).Flush()
			io.WriteString(w, big[1000:])
		}, true},
		{"error_response_over_the_limit", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(400)
			io.WriteString(w, big)
		}, true},
		{"exactly_the_limit", func(w http.ResponseWriter, _ *http.Request) {
			io.WriteString(w, big[:DefaultMaxResponseBytes])
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newAuthority(t, tt.handler)
			resp, err := (&Client{}).Do(context.Background(), tokenRequest(srv.URL, &signer{}))
			if tt.tooBig {
				if !errors.Is(err, ErrResponseTooLarge) {
					t.Fatalf("error = %v, want ErrResponseTooLarge", err)
				}
				if n := len(srv.seen()); n != 1 {
					t.Errorf("%d attempts, want 1 (a large body is not retried)", n)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Body) != DefaultMaxResponseBytes {
				t.Errorf("read %d bytes, want %d", len(resp.Body), DefaultMaxResponseBytes)
			}
		})
	}
}

func TestStandardHeaders(t *testing.T) {
	srv := newAuthority(t)
	c := &Client{AppName: "myapp", AppVersion: "1.2.3"}
	req := tokenRequest(srv.URL, &signer{})
	req.Header = http.Header{"X-Extra": {"yes"}}
	if _, err := c.Token(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	h := srv.seen()[0].Header
	want := map[string]string{
		"x-client-SKU":             SKU,
		"x-client-Ver":             Version(),
		"x-client-OS":              runtime.GOOS,
		"x-client-CPU":             runtime.GOARCH,
		"return-client-request-id": "true",
		"x-app-name":               "myapp",
		"x-app-ver":                "1.2.3",
		"Content-Type":             "application/x-www-form-urlencoded; charset=utf-8",
		"Accept":                   "application/json",
		"X-Extra":                  "yes",
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	if id := h.Get("client-request-id"); len(id) != 36 || id[14] != '4' {
		t.Errorf("client-request-id = %q, want a version 4 UUID", id)
	}
}

func TestBareRequestHasNoClientHeaders(t *testing.T) {
	srv := newAuthority(t, func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "westus2") })
	body, err := (&Client{AppName: "x"}).Get(context.Background(), srv.URL+"/metadata/instance/compute/location?format=text", http.Header{"Metadata": {"true"}}, true)
	if err != nil {
		t.Fatal(err)
	}
	if string(body) != "westus2" {
		t.Errorf("body = %q", body)
	}
	a := srv.seen()[0]
	if a.Method != http.MethodGet || a.Header.Get("Metadata") != "true" {
		t.Errorf("request = %s with Metadata %q", a.Method, a.Header.Get("Metadata"))
	}
	for _, k := range []string{"x-client-SKU", "client-request-id", "x-app-name", "Content-Type"} {
		if a.Header.Get(k) != "" {
			t.Errorf("bare request has header %s", k)
		}
	}
}

func TestGetRetriesAndReportsErrors(t *testing.T) {
	srv := newAuthority(t, status(503), status(404))
	var sl sleeps
	_, err := testClient(&sl).Get(context.Background(), srv.URL+"/x", nil, false)
	var re *ResponseError
	if !errors.As(err, &re) || re.StatusCode != 404 || re.Code != "e404" {
		t.Fatalf("error = %v, want the 404 response error", err)
	}
	if n := len(srv.seen()); n != 2 {
		t.Errorf("%d attempts, want 2", n)
	}
}

func TestConnectionErrorAfterRetries(t *testing.T) {
	srv := newAuthority(t, hangUp, hangUp, hangUp)
	var sl sleeps
	var sg signer
	_, err := testClient(&sl).Token(context.Background(), tokenRequest(srv.URL, &sg))
	if err == nil {
		t.Fatal("no error after three dropped connections")
	}
	if !strings.Contains(err.Error(), "3 attempt") {
		t.Errorf("error %q does not count the attempts", err)
	}
	mustNotContain(t, "error", err.Error(), "assertion-secret")
	if n := len(srv.seen()); n != 3 {
		t.Errorf("%d attempts, want 3", n)
	}
}

func TestBadCertificateNotRetried(t *testing.T) {
	tlsSrv := httptest.NewUnstartedServer(http.HandlerFunc(okToken))
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0)
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	var sl sleeps
	_, err := testClient(&sl).Token(context.Background(), tokenRequest(tlsSrv.URL, &signer{}))
	if err == nil {
		t.Fatal("a server with an untrusted certificate was accepted")
	}
	if len(sl.got()) != 0 {
		t.Errorf("an untrusted certificate was retried (waits %v)", sl.got())
	}
}

// TestRequestRetriesPolicy: a Request's own Retries decides which statuses
// are retried and how often, past the default two retries and for
// statuses the default never retries (404 and 410 for the instance
// metadata service).
func TestRequestRetriesPolicy(t *testing.T) {
	policy := func(status int) int {
		switch status {
		case http.StatusGone:
			return 4
		case http.StatusNotFound:
			return 1
		}
		return 0
	}
	tests := []struct {
		name     string
		steps    []step
		attempts int
		status   int
	}{
		{"410_retried_past_the_default", []step{status(410), status(410), status(410)}, 4, 200},
		{"410_until_the_policy_says_stop", []step{status(410), status(410), status(410), status(410), status(410)}, 5, 410},
		{"404_once", []step{status(404), status(404)}, 2, 404},
		{"503_not_in_the_policy", []step{status(503)}, 1, 503},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAuthority(t, tt.steps...)
			s := &sleeps{}
			resp, err := testClient(s).Do(context.Background(), &Request{Method: http.MethodGet, URL: a.URL + "/token", Retries: policy, Bare: true})
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status || resp.Attempts != tt.attempts || len(a.seen()) != tt.attempts || len(s.got()) != tt.attempts-1 {
				t.Errorf("status %d after %d attempts (%d seen, %d waits), want %d after %d", resp.StatusCode, resp.Attempts, len(a.seen()), len(s.got()), tt.status, tt.attempts)
			}
		})
	}
	a := newAuthority(t, status(410))
	resp, err := testClient(&sleeps{}).Do(context.Background(), &Request{Method: http.MethodGet, URL: a.URL, Retries: policy, NoRetry: true})
	if err != nil || resp.Attempts != 1 {
		t.Errorf("NoRetry with a policy: %v, %d attempts", err, resp.Attempts)
	}
}

// TestTokenLifetimesCountFromTheAnsweredAttempt checks that expires_in,
// ext_expires_in and refresh_in count from when the attempt that got the
// token was sent, not from when its answer arrived: the authority stamps
// its exp before it answers, so a slow answer (or a slow read of it) must
// not make the token look longer-lived than it is. With 2 s tokens and a
// cache that keeps whole seconds, counting from the answer made the
// outage soak (internal/soak) send tokens the resource had already seen
// expire.
func TestTokenLifetimesCountFromTheAnsweredAttempt(t *testing.T) {
	const answerTakes = 30 * time.Second
	tests := []struct {
		name     string
		steps    []step
		wantFrom time.Duration // when the answered attempt was sent, after testNow
	}{
		{"slow_answer", nil, 0},
		{"slow_answer_after_a_retry", []step{status(503, "Retry-After", "5")}, 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			now := testNow
			advance := func(d time.Duration) {
				mu.Lock()
				defer mu.Unlock()
				now = now.Add(d)
			}
			srv := newAuthority(t, tt.steps...)
			srv.success = func(w http.ResponseWriter, r *http.Request) {
				advance(answerTakes) // the answer comes 30 s after the request left
				writeJSON(w, 200, `{"access_token":"at-secret-value","token_type":"Bearer","expires_in":3600,"ext_expires_in":7200,"refresh_in":1800}`)
			}
			c := &Client{
				Now: func() time.Time {
					mu.Lock()
					defer mu.Unlock()
					return now
				},
				Sleep: func(ctx context.Context, d time.Duration) error { advance(d); return ctx.Err() },
			}
			var sg signer
			tok, err := c.Token(context.Background(), tokenRequest(srv.URL, &sg))
			if err != nil {
				t.Fatal(err)
			}
			sent := testNow.Add(tt.wantFrom)
			for _, f := range []struct {
				name      string
				got, want time.Time
			}{
				{"ExpiresOn", tok.ExpiresOn, sent.Add(time.Hour)},
				{"ExtExpiresOn", tok.ExtExpiresOn, sent.Add(2 * time.Hour)},
				{"RefreshOn", tok.RefreshOn, sent.Add(30 * time.Minute)},
			} {
				if !f.got.Equal(f.want) {
					t.Errorf("%s = %v, want %v (the answered attempt was sent at %v, its answer came at %v)",
						f.name, f.got, f.want, sent, sent.Add(answerTakes))
				}
			}
		})
	}
}
