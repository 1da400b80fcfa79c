package bearer_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/bearerhttp/bearer"
	"github.com/bearerhttp/bearer/authtest"
	"github.com/bearerhttp/bearer/credential"
	"github.com/bearerhttp/bearer/flow"
)

// TestTraceCAERevocation runs a confidential client's source through a
// traced transport against authtest's Graph: a revocation mid-run gives
// exactly one challenge event, one token request answering it, and one
// resend; the calls around it give token events only.
func TestTraceCAERevocation(t *testing.T) {
	const clientID = "7a7a7a7a-1111-4222-8333-444444444444"
	srv := authtest.NewTLSServer(t, authtest.WithLogger(slog.New(slog.DiscardHandler)))
	srv.AddClient(authtest.Client{ID: clientID, Secret: "trace-test-not-a-real-secret"})
	app, err := flow.NewConfidential(clientID, credential.Secret("trace-test-not-a-real-secret"),
		flow.WithAuthority(srv.Authority("contoso.com")), flow.WithCapabilities("cp1"),
		flow.WithClock(srv.Now), flow.WithHTTPClient(srv.Client()))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var events []string
	add := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, fmt.Sprintf(format, args...))
	}
	hc := &http.Client{Transport: &bearer.Transport{
		Source: app.ClientSource(),
		Scopes: []string{"https://graph.microsoft.com/.default"},
		Base:   srv.Client().Transport,
		Trace: &bearer.TransportTrace{
			TokenStart: func(ctx context.Context, info bearer.TokenStartInfo) context.Context {
				add("token_start %q", info.Challenge)
				return nil
			},
			TokenDone: func(_ context.Context, info bearer.TokenDoneInfo) {
				add("token_done %q %v", info.Challenge, info.Err)
			},
			Challenge: func(_ context.Context, info bearer.ChallengeInfo) {
				add("challenge %s nbf=%v", info.Kind, strings.Contains(info.Challenge.Param("claims"), "eyJ"))
			},
			Resend:          func(_ context.Context, info bearer.ResendInfo) { add("resend %s %d", info.Kind, info.Resend) },
			TokenWithheld:   func(_ context.Context, info bearer.WithheldInfo) { add("withheld %s", info.Reason) },
			ChallengeFailed: func(_ context.Context, err *bearer.ChallengeError) { add("challenge_failed %v", err) },
		},
	}}
	get := func() {
		t.Helper()
		resp, err := hc.Get("https://graph.microsoft.com/v1.0/users")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	get()
	srv.Revoke(clientID)
	get()
	get()
	want := []string{
		`token_start ""`, `token_done "" <nil>`,
		`token_start ""`, `token_done "" <nil>`,
		"challenge insufficient_claims nbf=true",
		`token_start "insufficient_claims"`, `token_done "insufficient_claims" <nil>`,
		"resend insufficient_claims 1",
		`token_start ""`, `token_done "" <nil>`,
	}
	if !reflect.DeepEqual(events, want) {
		t.Errorf("events:\n  %s\nwant:\n  %s", strings.Join(events, "\n  "), strings.Join(want, "\n  "))
	}
	if n := srv.TokenRequests(); n != 2 {
		t.Errorf("%d token requests, want 2", n)
	}
}
