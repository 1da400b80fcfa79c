package bearer_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	"github.com/bearerhttp/bearer"
)

// ExampleTransportTrace counts what a transport does: token requests to
// its source (and the time they took), challenges, resends. Here a
// resource revokes the first token with a claims challenge; the hooks
// would feed metrics in a real program (see examples/otel for
// OpenTelemetry).
func ExampleTransportTrace() {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "Bearer token-1" {
			w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_claims", claims="eyJhY2Nlc3NfdG9rZW4iOnsibmJmIjp7ImVzc2VudGlhbCI6dHJ1ZSwidmFsdWUiOiIxNzI2MDc3NTk1In19fQ=="`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, "ok")
	}))
	defer srv.Close()

	var issued atomic.Int64
	src := bearer.ReuseTokenSource(bearer.TokenSourceFunc(func(ctx context.Context, req bearer.TokenRequest) (bearer.Token, error) {
		n := issued.Add(1)
		return bearer.Token{AccessToken: fmt.Sprintf("token-%d", n), ExpiresOn: time.Now().Add(time.Hour)}, nil
	}))
	var tokens, challenges, resends atomic.Int64
	var waited atomic.Int64 // nanoseconds spent waiting for tokens
	trace := &bearer.TransportTrace{
		TokenDone: func(ctx context.Context, info bearer.TokenDoneInfo) {
			tokens.Add(1)
			waited.Add(int64(info.Duration))
		},
		Challenge: func(ctx context.Context, info bearer.ChallengeInfo) {
			challenges.Add(1)
			fmt.Printf("challenge: %s (after %d resends)\n", info.Kind, info.Resends)
		},
		Resend: func(ctx context.Context, info bearer.ResendInfo) {
			resends.Add(1)
			fmt.Printf("resend %d: %s\n", info.Resend, info.Kind)
		},
	}
	client := &http.Client{Transport: &bearer.Transport{
		Source:       src,
		Scopes:       []string{"https://graph.microsoft.com/.default"},
		AllowedHosts: []string{"127.0.0.1"},
		Base:         srv.Client().Transport,
		Trace:        trace,
	}}
	for range 2 {
		resp, err := client.Get(srv.URL)
		if err != nil {
			fmt.Println(err)
			return
		}
		resp.Body.Close()
	}
	fmt.Printf("%d token requests, %d challenge, %d resend, waited for tokens: %v\n",
		tokens.Load(), challenges.Load(), resends.Load(), waited.Load() > 0)
	// Output:
	// challenge: insufficient_claims (after 0 resends)
	// resend 1: insufficient_claims
	// 3 token requests, 1 challenge, 1 resend, waited for tokens: true
}

// ExampleContextWithTrace reports the hooks of one request only: here,
// that its redirect to another host went without the token.
func ExampleContextWithTrace() {
	other := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Printf("other host: a token: %v\n", r.Header.Get("Authorization") != "")
	}))
	defer other.Close()
	api := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Printf("api: a token: %v\n", r.Header.Get("Authorization") != "")
		http.Redirect(w, r, other.URL+"/moved", http.StatusFound)
	}))
	defer api.Close()

	client := &http.Client{Transport: &bearer.Transport{
		Source: bearer.TokenSourceFunc(func(context.Context, bearer.TokenRequest) (bearer.Token, error) {
			return bearer.Token{AccessToken: "token"}, nil
		}),
		AllowedHosts: []string{"127.0.0.1"}, // both servers: one host, two ports
		Base:         api.Client().Transport,
	}}
	ctx := bearer.ContextWithTrace(context.Background(), &bearer.TransportTrace{
		TokenWithheld: func(ctx context.Context, info bearer.WithheldInfo) {
			fmt.Printf("token withheld from %s: %s\n", info.Scheme, info.Reason)
		},
	})
	req, _ := http.NewRequestWithContext(ctx, "GET", api.URL, nil)
	resp, err := client.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	// Output:
	// api: a token: true
	// token withheld from https: redirect
	// other host: a token: false
}

// ExampleTransportTrace_challengeFailed times the token requests that
// answer challenges, from TokenStart (whose context reaches the source
// and TokenDone: a hook may put a span there), and reports the step-up
// the source could not satisfy.
func ExampleTransportTrace_challengeFailed() {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_user_authentication", acr_values="c1"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer srv.Close()

	type startKey struct{}
	src := bearer.TokenSourceFunc(func(ctx context.Context, req bearer.TokenRequest) (bearer.Token, error) {
		if req.Challenge != nil && req.Challenge.IsStepUp() {
			return bearer.Token{}, fmt.Errorf("%w: a user must sign in", bearer.ErrInteractionRequired)
		}
		return bearer.Token{AccessToken: "app-token"}, nil
	})
	trace := &bearer.TransportTrace{
		TokenStart: func(ctx context.Context, info bearer.TokenStartInfo) context.Context {
			return context.WithValue(ctx, startKey{}, time.Now())
		},
		TokenDone: func(ctx context.Context, info bearer.TokenDoneInfo) {
			_, timed := ctx.Value(startKey{}).(time.Time)
			fmt.Printf("token for %q: timed from TokenStart: %v, error: %v\n", info.Challenge, timed, info.Err != nil)
		},
		ChallengeFailed: func(ctx context.Context, err *bearer.ChallengeError) {
			fmt.Printf("challenge failed: %d %s acr_values=%s\n", err.StatusCode, err.Challenge.Param("error"), err.Challenge.Param("acr_values"))
		},
	}
	client := &http.Client{Transport: &bearer.Transport{
		Source:       src,
		AllowedHosts: []string{"127.0.0.1"},
		Base:         srv.Client().Transport,
		Trace:        trace,
	}}
	_, err := client.Get(srv.URL)
	fmt.Println(errors.Is(err, bearer.ErrInteractionRequired))
	// Output:
	// token for "": timed from TokenStart: true, error: false
	// token for "insufficient_user_authentication": timed from TokenStart: true, error: true
	// challenge failed: 401 insufficient_user_authentication acr_values=c1
	// true
}
