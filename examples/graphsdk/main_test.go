package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/bearerhttp/bearer"
	"github.com/bearerhttp/bearer/authtest"
	"github.com/bearerhttp/bearer/credential"
	"github.com/bearerhttp/bearer/flow"
)

// TestRun runs the program and checks its report: two token requests,
// and Graph's three answers (the 401 is the claims challenge).
func TestRun(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	got := out.String()
	for _, want := range []string{
		"Users: 2 users: Adele Vance, Alex Wilber",
		"Users after the revocation: 2 users: Adele Vance, Alex Wilber",
		"Done: 2 token requests; Graph answered 200, 401, 200.",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, clientSecret) {
		t.Errorf("output shows the client secret:\n%s", got)
	}
}

func newAuthority(t *testing.T) *authtest.Server {
	t.Helper()
	srv := authtest.NewTLSServer(t, authtest.WithLogger(slog.New(slog.DiscardHandler)))
	srv.AddClient(authtest.Client{ID: clientID, Secret: clientSecret})
	srv.AddUser(authtest.User{Username: "adele@contoso.onmicrosoft.com", DisplayName: "Adele Vance", TenantID: srv.TenantID(tenant)})
	srv.AddUser(authtest.User{Username: "alex@contoso.onmicrosoft.com", DisplayName: "Alex Wilber", TenantID: srv.TenantID(tenant)})
	return srv
}

// graphAnswers returns Graph's answers in order, and fails the test for a
// request that did not pass through both kiota's middleware (its
// telemetry header) and bearer.Transport (a token).
func graphAnswers(t *testing.T, srv *authtest.Server) []int {
	t.Helper()
	var out []int
	for _, r := range srv.RequestsTo(authtest.EndpointResource) {
		out = append(out, r.Status)
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ey") {
			t.Errorf("a Graph request (answered %d) had no token", r.Status)
		}
		if !strings.Contains(r.Header.Get("SdkVersion"), "graph-go") {
			t.Errorf("a Graph request (answered %d) has SdkVersion %q: it did not pass through the SDK's middleware", r.Status, r.Header.Get("SdkVersion"))
		}
	}
	return out
}

// TestGraphSDKSurvivesRevocation: the SDK lists users; after a CAE
// revocation Graph answers the next call with a claims challenge, which
// the transport answers with one new token (asked with the claims) and
// one resend. The SDK's adapter, which would resend a challenged request
// itself, never sees the 401: no double send.
func TestGraphSDKSurvivesRevocation(t *testing.T) {
	srv := newAuthority(t)
	app, err := flow.NewConfidential(clientID, credential.Secret(clientSecret),
		flow.WithAuthority(srv.Authority(tenant)),
		flow.WithCapabilities("cp1"),
		flow.WithHTTPClient(srv.Client()))
	if err != nil {
		t.Fatal(err)
	}
	client, err := newGraphClient(app.ClientSource(), srv.Client().Transport)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, step := range []string{"first", "cached", "revoked"} {
		if step == "revoked" {
			srv.Revoke(clientID)
		}
		names, err := userNames(ctx, client)
		if err != nil || strings.Join(names, ", ") != "Adele Vance, Alex Wilber" {
			t.Fatalf("%s call: users %q, error %v", step, names, err)
		}
	}
	if got, want := graphAnswers(t, srv), []int{200, 200, 401, 200}; !slices.Equal(got, want) {
		t.Errorf("Graph answered %v, want %v", got, want)
	}
	toks := srv.RequestsTo(authtest.EndpointToken)
	if len(toks) != 2 {
		t.Fatalf("%d token requests, want 2", len(toks))
	}
	if c := toks[1].Form.Get("claims"); !strings.Contains(c, `"nbf"`) || !strings.Contains(c, `"cp1"`) {
		t.Errorf("the challenge's token request has claims %s, want the challenge's nbf and cp1", c)
	}
}

// TestGraphSDKChallengeNotSatisfied: a source that cannot ask for claims
// makes the transport return a *bearer.ChallengeError; the SDK returns it
// (errors.As finds it) without sending the request again.
func TestGraphSDKChallengeNotSatisfied(t *testing.T) {
	srv := newAuthority(t)
	app, err := flow.NewConfidential(clientID, credential.Secret(clientSecret),
		flow.WithAuthority(srv.Authority(tenant)),
		flow.WithCapabilities("cp1"),
		flow.WithHTTPClient(srv.Client()))
	if err != nil {
		t.Fatal(err)
	}
	src := bearer.TokenSourceFunc(func(ctx context.Context, req bearer.TokenRequest) (bearer.Token, error) {
		if req.Claims != "" {
			return bearer.Token{}, bearer.ErrInteractionRequired
		}
		return app.ClientSource().Token(ctx, req)
	})
	client, err := newGraphClient(src, srv.Client().Transport)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := userNames(context.Background(), client); err != nil {
		t.Fatal(err)
	}
	srv.Revoke(clientID)
	_, err = userNames(context.Background(), client)
	var ce *bearer.ChallengeError
	if !errors.As(err, &ce) || !errors.Is(err, bearer.ErrInteractionRequired) || !ce.Challenge.IsCAE() {
		t.Fatalf("after the revocation: error %v, want a *bearer.ChallengeError for the CAE challenge wrapping ErrInteractionRequired", err)
	}
	if got, want := graphAnswers(t, srv), []int{200, 401}; !slices.Equal(got, want) {
		t.Errorf("Graph answered %v, want %v", got, want)
	}
}
