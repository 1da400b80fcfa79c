package bearer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// events records what a TransportTrace is told, one line per hook call,
// and every argument in full (for the secrets check).
type events struct {
	mu    sync.Mutex
	lines []string
	full  []string
	errs  []error
}

func (e *events) add(line string, arg any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lines = append(e.lines, line)
	e.full = append(e.full, fmt.Sprintf("%#v", arg))
}

func (e *events) all() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.lines...)
}

// trace returns a TransportTrace recording into e, each line prefixed
// with name.
func (e *events) trace(name string) *TransportTrace {
	return &TransportTrace{
		TokenStart: func(ctx context.Context, info TokenStartInfo) context.Context {
			e.add(fmt.Sprintf("%stoken_start %q %v", name, info.Challenge, info.Scopes), info)
			return nil
		},
		TokenDone: func(ctx context.Context, info TokenDoneInfo) {
			if info.Duration < 0 {
				e.add(name+"negative duration", info)
			}
			e.add(fmt.Sprintf("%stoken_done %q err=%v", name, info.Challenge, info.Err != nil), info)
			if info.Err != nil {
				e.mu.Lock()
				e.errs = append(e.errs, info.Err)
				e.mu.Unlock()
			}
		},
		Challenge: func(ctx context.Context, info ChallengeInfo) {
			e.add(fmt.Sprintf("%schallenge %s resends=%d", name, info.Kind, info.Resends), info)
		},
		Resend: func(ctx context.Context, info ResendInfo) {
			e.add(fmt.Sprintf("%sresend %s %d", name, info.Kind, info.Resend), info)
		},
		TokenWithheld: func(ctx context.Context, info WithheldInfo) {
			e.add(fmt.Sprintf("%swithheld %s %s://%s", name, info.Reason, info.Scheme, hostname(info.Host)), info)
		},
		ChallengeFailed: func(ctx context.Context, err *ChallengeError) {
			e.add(fmt.Sprintf("%schallenge_failed %s", name, err.Challenge.Param("error")), *err)
			e.mu.Lock()
			e.errs = append(e.errs, err)
			e.mu.Unlock()
		},
	}
}

// TestTraceEvents checks what the hooks of Transport.Trace are told for
// each way a request can go: exactly one event per thing that happened,
// in order, none for what did not happen.
func TestTraceEvents(t *testing.T) {
	w := newWorld(t)
	const (
		stepUp       = `Bearer error="insufficient_user_authentication", acr_values="c1"`
		invalidToken = `Bearer error="invalid_token", error_description="expired"`
		nonce        = `DPoP error="use_dpop_nonce"`
	)
	sourceErr := errors.New("no user here")
	tests := []struct {
		name string
		// handler answers the requests; url is asked for, under host.
		handler func(rec *recorder) http.Handler
		host    string
		body    func() io.Reader // nil: GET
		src     TokenSource
		want    []string
		// wantErr is RoundTrip's error (Client.Do wraps it), if any.
		wantErr error
	}{
		{name: "ok", handler: func(rec *recorder) http.Handler { return challengeFirst(rec, "", 0) },
			// The first answer is a 401 without a challenge: nothing to report.
			want: []string{`token_start "" [https://graph.microsoft.com/.default]`, `token_done "" err=false`}},
		{name: "claims challenge", handler: func(rec *recorder) http.Handler { return challengeFirst(rec, claimsChallenge, 10) },
			want: []string{`token_start "" [https://graph.microsoft.com/.default]`, `token_done "" err=false`,
				"challenge insufficient_claims resends=0",
				`token_start "insufficient_claims" [https://graph.microsoft.com/.default]`, `token_done "insufficient_claims" err=false`,
				"resend insufficient_claims 1"}},
		{name: "claims challenge that comes back", handler: func(rec *recorder) http.Handler {
			return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { unauthorized(rw, claimsChallenge, 10) })
		},
			want: []string{`token_start "" [https://graph.microsoft.com/.default]`, `token_done "" err=false`,
				"challenge insufficient_claims resends=0",
				`token_start "insufficient_claims" [https://graph.microsoft.com/.default]`, `token_done "insufficient_claims" err=false`,
				"resend insufficient_claims 1",
				"challenge insufficient_claims resends=1"}},
		{name: "claims challenge to a body that cannot be replayed", handler: func(rec *recorder) http.Handler { return challengeFirst(rec, claimsChallenge, 10) },
			body: func() io.Reader { return onceReader{strings.NewReader("payload")} },
			want: []string{`token_start "" [https://graph.microsoft.com/.default]`, `token_done "" err=false`,
				"challenge insufficient_claims resends=0"}},
		{name: "invalid token", handler: func(rec *recorder) http.Handler { return challengeFirst(rec, invalidToken, 10) },
			want: []string{`token_start "" [https://graph.microsoft.com/.default]`, `token_done "" err=false`,
				"challenge invalid_token resends=0",
				`token_start "invalid_token" [https://graph.microsoft.com/.default]`, `token_done "invalid_token" err=false`,
				"resend invalid_token 1"}},
		{name: "step-up the source cannot satisfy", handler: func(rec *recorder) http.Handler { return challengeFirst(rec, stepUp, 10) },
			src: &recordingSource{fail: func(r TokenRequest) error {
				if r.Challenge != nil {
					return fmt.Errorf("%w: %w", ErrInteractionRequired, sourceErr)
				}
				return nil
			}},
			want: []string{`token_start "" [https://graph.microsoft.com/.default]`, `token_done "" err=false`,
				"challenge insufficient_user_authentication resends=0",
				`token_start "insufficient_user_authentication" [https://graph.microsoft.com/.default]`, `token_done "insufficient_user_authentication" err=true`,
				"challenge_failed insufficient_user_authentication"},
			wantErr: sourceErr},
		{name: "DPoP nonce, then claims", handler: func(rec *recorder) http.Handler {
			return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
				switch rec.add(hit{}) {
				case 1:
					rw.Header().Set("DPoP-Nonce", "n1")
					unauthorized(rw, nonce, 0)
				case 2:
					unauthorized(rw, strings.Replace(claimsChallenge, "Bearer", "DPoP", 1), 0)
				default:
					io.WriteString(rw, "ok")
				}
			})
		},
			src: &dpopSource{},
			want: []string{`token_start "" [https://graph.microsoft.com/.default]`, `token_done "" err=false`,
				"challenge use_dpop_nonce resends=0", "resend use_dpop_nonce 1",
				"challenge insufficient_claims resends=1",
				`token_start "insufficient_claims" [https://graph.microsoft.com/.default]`, `token_done "insufficient_claims" err=false`,
				"resend insufficient_claims 2"}},
		{name: "source error on the first token", handler: func(rec *recorder) http.Handler { return challengeFirst(rec, "", 0) },
			src:     &recordingSource{fail: func(TokenRequest) error { return sourceErr }},
			want:    []string{`token_start "" [https://graph.microsoft.com/.default]`, `token_done "" err=true`},
			wantErr: sourceErr},
		{name: "host not allowed", handler: func(rec *recorder) http.Handler { return challengeFirst(rec, claimsChallenge, 0) },
			host: "example.com",
			want: []string{"withheld host_not_allowed https://example.com"}},
		{name: "redirect to another host", handler: func(rec *recorder) http.Handler {
			return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
				if r.Host == "graph.microsoft.com" || strings.HasPrefix(r.Host, "graph.microsoft.com:") {
					http.Redirect(rw, r, "https://"+strings.Replace(r.Host, "graph.microsoft.com", "example.com", 1)+"/there", http.StatusFound)
					return
				}
				io.WriteString(rw, "ok")
			})
		},
			want: []string{`token_start "" [https://graph.microsoft.com/.default]`, `token_done "" err=false`,
				"withheld host_not_allowed https://example.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := w.tls(t, tt.handler(&recorder{}))
			src := tt.src
			if src == nil {
				src = &recordingSource{}
			}
			var ev events
			tr := graphTransport(w, src)
			tr.Trace = ev.trace("")
			host := tt.host
			if host == "" {
				host = "graph.microsoft.com"
			}
			var body io.Reader
			method := http.MethodGet
			if tt.body != nil {
				body, method = tt.body(), http.MethodPost
			}
			req, err := http.NewRequest(method, srv.url(host, "/"), body)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := (&http.Client{Transport: tr}).Do(req)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error %v, want %v", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			} else {
				resp.Body.Close()
			}
			if got := ev.all(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("events:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
			for _, e := range ev.errs {
				if !errors.Is(e, tt.wantErr) {
					t.Errorf("a hook got the error %v, want one wrapping %v", e, tt.wantErr)
				}
			}
			// No hook is given a token, whatever it was told.
			for _, s := range ev.full {
				if strings.Contains(s, "token-") {
					t.Errorf("a hook was given a token: %s", s)
				}
			}
		})
	}
}

// TestTraceWithheldRedirect: a redirect between two allowed hosts is sent
// without the token (it leaves the first request's origin), and reported.
func TestTraceWithheldRedirect(t *testing.T) {
	w := newWorld(t)
	var srv *server
	srv = w.tls(t, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.Host, "graph.microsoft.com") {
			http.Redirect(rw, r, srv.url("example.com", "/there"), http.StatusFound)
			return
		}
		io.WriteString(rw, r.Header.Get("Authorization"))
	}))
	var ev events
	tr := &Transport{Source: &recordingSource{}, AllowedHosts: []string{"graph.microsoft.com", "example.com"}, Base: w.base, Trace: ev.trace("")}
	status, body := get(t, tr, srv.url("graph.microsoft.com", "/"))
	if status != 200 || body != "" {
		t.Fatalf("got %d %q, want the redirect sent without a token", status, body)
	}
	want := []string{`token_start "" []`, `token_done "" err=false`, "withheld redirect https://example.com"}
	if got := ev.all(); !reflect.DeepEqual(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}
}

// TestTraceWithheldInsecure checks the two refusals to send a token over
// plain HTTP: to a host that is not loopback, and to loopback through a
// proxy. Neither asks the source.
func TestTraceWithheldInsecure(t *testing.T) {
	w := newWorld(t)
	plain := w.plain(t, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { io.WriteString(rw, "ok") }))
	proxyURL, _ := url.Parse("http://127.0.0.1:1")
	tests := []struct {
		name string
		url  string
		base http.RoundTripper
		want string
	}{
		{"not loopback", "http://example.com:" + plain.port + "/", w.base, "withheld insecure http://example.com"},
		{"loopback through a proxy", plain.url("127.0.0.1", "/"), &http.Transport{Proxy: http.ProxyURL(proxyURL)}, "withheld proxy http://127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ev events
			src := &recordingSource{}
			tr := &Transport{Source: src, AllowedHosts: []string{"example.com", "127.0.0.1"}, Base: tt.base, Trace: ev.trace("")}
			req, _ := http.NewRequest("GET", tt.url, nil)
			if _, err := tr.RoundTrip(req); !errors.Is(err, ErrInsecure) {
				t.Fatalf("error %v, want ErrInsecure", err)
			}
			if got := ev.all(); !reflect.DeepEqual(got, []string{tt.want}) {
				t.Errorf("events %q, want %q", got, tt.want)
			}
			if n := len(src.requests()); n != 0 {
				t.Errorf("source asked %d times", n)
			}
		})
	}
}

// TestTraceContextAndField checks where hooks come from: the transport's
// Trace and the request's context both hear every event, the transport's
// first; a trace added to a context that has one runs before it; the
// context TokenStart returns is the source's and TokenDone's.
func TestTraceContextAndField(t *testing.T) {
	w := newWorld(t)
	srv := w.tls(t, challengeFirst(&recorder{}, claimsChallenge, 10))
	type spanKey struct{}
	var ev events
	field := ev.trace("field: ")
	inner := ev.trace("inner: ")
	outer := ev.trace("outer: ")
	spans := 0
	outer.TokenStart = func(ctx context.Context, info TokenStartInfo) context.Context {
		spans++
		ev.add(fmt.Sprintf("outer: token_start %q", info.Challenge), info)
		return context.WithValue(ctx, spanKey{}, spans)
	}
	outer.TokenDone = func(ctx context.Context, info TokenDoneInfo) {
		ev.add(fmt.Sprintf("outer: token_done %q span=%v", info.Challenge, ctx.Value(spanKey{})), info)
	}
	var seen []any
	src := TokenSourceFunc(func(ctx context.Context, req TokenRequest) (Token, error) {
		seen = append(seen, ctx.Value(spanKey{}))
		return Token{AccessToken: fmt.Sprintf("token-%d", len(seen))}, nil
	})
	tr := &Transport{Source: src, Scopes: graphScopes, Base: w.base, Trace: field}
	ctx := ContextWithTrace(ContextWithTrace(context.Background(), inner), outer)
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.url("graph.microsoft.com", "/"), nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want := []string{
		`field: token_start "" [https://graph.microsoft.com/.default]`,
		`outer: token_start ""`,
		`inner: token_start "" [https://graph.microsoft.com/.default]`,
		`field: token_done "" err=false`,
		`outer: token_done "" span=1`,
		`inner: token_done "" err=false`,
		"field: challenge insufficient_claims resends=0",
		"outer: challenge insufficient_claims resends=0",
		"inner: challenge insufficient_claims resends=0",
		`field: token_start "insufficient_claims" [https://graph.microsoft.com/.default]`,
		`outer: token_start "insufficient_claims"`,
		`inner: token_start "insufficient_claims" [https://graph.microsoft.com/.default]`,
		`field: token_done "insufficient_claims" err=false`,
		`outer: token_done "insufficient_claims" span=2`,
		`inner: token_done "insufficient_claims" err=false`,
		"field: resend insufficient_claims 1",
		"outer: resend insufficient_claims 1",
		"inner: resend insufficient_claims 1",
	}
	if got := ev.all(); !reflect.DeepEqual(got, want) {
		t.Errorf("events:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	if !reflect.DeepEqual(seen, []any{1, 2}) {
		t.Errorf("the source saw the contexts of spans %v, want [1 2]", seen)
	}
	if got := ContextWithTrace(ctx, nil); got != ctx {
		t.Error("ContextWithTrace(ctx, nil) is not ctx")
	}
}

// TestTraceAddsNoAllocation checks that hooks cost RoundTrip no
// allocation of its own, set or not (the hooks here allocate nothing).
func TestTraceAddsNoAllocation(t *testing.T) {
	req, err := http.NewRequest("GET", "https://graph.microsoft.com/v1.0/me", nil)
	if err != nil {
		t.Fatal(err)
	}
	base := roundTripFunc(func(*http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
	})
	src := ReuseTokenSource(TokenSourceFunc(func(context.Context, TokenRequest) (Token, error) {
		return Token{AccessToken: "token-1", ExpiresOn: time.Now().Add(time.Hour)}, nil
	}))
	var n int
	hooks := &TransportTrace{
		TokenStart: func(ctx context.Context, _ TokenStartInfo) context.Context { n++; return ctx },
		TokenDone:  func(context.Context, TokenDoneInfo) { n++ },
	}
	allocs := func(tr *Transport, req *http.Request) float64 {
		return testing.AllocsPerRun(200, func() {
			if _, err := tr.RoundTrip(req); err != nil {
				t.Fatal(err)
			}
		})
	}
	plain := allocs(&Transport{Source: src, Scopes: graphScopes, Base: base}, req)
	withField := allocs(&Transport{Source: src, Scopes: graphScopes, Base: base, Trace: hooks}, req)
	withContext := allocs(&Transport{Source: src, Scopes: graphScopes, Base: base}, req.WithContext(ContextWithTrace(context.Background(), hooks)))
	if withField != plain || withContext != plain {
		t.Errorf("allocations per RoundTrip: %v without hooks, %v with Transport.Trace, %v with ContextWithTrace", plain, withField, withContext)
	}
	if n == 0 {
		t.Error("the hooks were not called")
	}
}

// BenchmarkTransportCachedTokenTraced is BenchmarkTransportCachedToken
// with TokenStart and TokenDone hooks that do nothing.
func BenchmarkTransportCachedTokenTraced(b *testing.B) {
	req, base := benchRequest(b)
	src := ReuseTokenSource(TokenSourceFunc(func(context.Context, TokenRequest) (Token, error) {
		return Token{AccessToken: benchToken, ExpiresOn: time.Now().Add(time.Hour)}, nil
	}))
	tr := &Transport{Source: src, Scopes: graphScopes, Base: base, Trace: &TransportTrace{
		TokenStart: func(ctx context.Context, _ TokenStartInfo) context.Context { return ctx },
		TokenDone:  func(context.Context, TokenDoneInfo) {},
	}}
	b.ReportAllocs()
	for b.Loop() {
		resp, err := tr.RoundTrip(req)
		if err != nil {
			b.Fatal(err)
		}
		sink = resp
	}
}
