package bearer_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/bearerhttp/bearer"
	"github.com/bearerhttp/bearer/authtest"
	"github.com/bearerhttp/bearer/credential"
	"github.com/bearerhttp/bearer/flow"
)

// These benchmarks are the path users pay on every request: a Transport
// whose source is one of flow's, with the token in the application's
// cache, over a base that does nothing (BenchmarkFloor and
// BenchmarkOAuth2Transport, in the same binary, are the anchors: run them
// together, as in -bench 'Floor|OAuth2Transport|TransportClientSource|TransportOnBehalfOfSource').

// nopBase answers every request with the same response and does nothing
// else, as BenchmarkFloor's base does.
type nopBase struct{ resp *http.Response }

func (n nopBase) RoundTrip(*http.Request) (*http.Response, error) { return n.resp, nil }

func newNopBase() nopBase {
	return nopBase{resp: &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("")), Header: http.Header{}}}
}

// graphRequest is the request BenchmarkFloor sends, with ctx.
func graphRequest(tb testing.TB, ctx context.Context) *http.Request {
	tb.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", "https://graph.microsoft.com/v1.0/me/messages?$top=10&$select=subject", nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	return req
}

var respSink *http.Response

// benchRoundTrips sends req through rt once (which must fill the cache),
// then b.N times.
func benchRoundTrips(b *testing.B, rt http.RoundTripper, req *http.Request) {
	b.Helper()
	if _, err := rt.RoundTrip(req); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		resp, err := rt.RoundTrip(req)
		if err != nil {
			b.Fatal(err)
		}
		respSink = resp
	}
}

const (
	benchClientID = "daemon-app"
	benchSecret   = "daemon-s3cret-VALUE"
	benchMiddleID = "middle-tier-app"
	benchMidAPI   = "api://middle-tier"
)

// daemonApp is an application of an authtest server with its own token
// for Graph.
func daemonApp(tb testing.TB) (*authtest.Server, *flow.Confidential) {
	tb.Helper()
	srv := authtest.NewTLSServer(tb)
	srv.AddClient(authtest.Client{ID: benchClientID, Secret: benchSecret})
	app, err := flow.NewConfidential(benchClientID, credential.Secret(benchSecret),
		flow.WithAuthority(srv.Authority("contoso.com")), flow.WithHTTPClient(srv.Client()))
	if err != nil {
		tb.Fatal(err)
	}
	return srv, app
}

// middleTierApp is a web API's application of an authtest server, and a
// user's assertion for it.
func middleTierApp(tb testing.TB) (*authtest.Server, *flow.Confidential, string) {
	tb.Helper()
	srv := authtest.NewTLSServer(tb)
	srv.AddUser(authtest.User{Username: "alice@contoso.com"})
	srv.AddClient(authtest.Client{ID: benchMiddleID, Secret: benchSecret})
	srv.AddAPI(authtest.API{Audience: benchMidAPI, AppID: benchMiddleID, Scopes: []string{"access"}})
	app, err := flow.NewConfidential(benchMiddleID, credential.Secret(benchSecret),
		flow.WithAuthority(srv.Authority("contoso.com")), flow.WithHTTPClient(srv.Client()))
	if err != nil {
		tb.Fatal(err)
	}
	assertion := srv.IssueAccessToken(authtest.AccessTokenSpec{Audience: benchMidAPI, Scopes: []string{"access"}, Subject: "alice@contoso.com", ClientID: "front-end"})
	return srv, app, assertion
}

// BenchmarkTransportClientSource is a request through a Transport whose
// source is ClientSource, the application's token in its cache.
func BenchmarkTransportClientSource(b *testing.B) {
	srv, app := daemonApp(b)
	tr := &bearer.Transport{Source: app.ClientSource(), Scopes: []string{"https://graph.microsoft.com/.default"}, Base: newNopBase()}
	benchRoundTrips(b, tr, graphRequest(b, context.Background()))
	if n := srv.TokenRequests(); n != 1 {
		b.Errorf("%d token requests, want 1", n)
	}
}

// BenchmarkTransportOnBehalfOfSource is a request through a Transport
// whose source is OnBehalfOfSource, the user's assertion in the
// request's context and the token for it in the cache.
func BenchmarkTransportOnBehalfOfSource(b *testing.B) {
	srv, app, assertion := middleTierApp(b)
	tr := &bearer.Transport{Source: app.OnBehalfOfSource(), Scopes: []string{"User.Read"}, Base: newNopBase()}
	benchRoundTrips(b, tr, graphRequest(b, flow.ContextWithUserAssertion(context.Background(), assertion)))
	if n := srv.TokenRequests(); n != 1 {
		b.Errorf("%d token requests, want 1", n)
	}
}
