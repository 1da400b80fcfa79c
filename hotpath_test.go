package bearer

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestTransportPreparedAuthorization checks which Authorization value a
// token's prepared one (Token.Authorization) puts on the wire: its own
// only when it is exactly "Bearer " and the access token; otherwise the
// value is built from AccessToken, so a source's stale or foreign value
// can never send another token.
func TestTransportPreparedAuthorization(t *testing.T) {
	w := newWorld(t)
	rec := &recorder{}
	srv := w.tls(t, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rec.add(hit{auth: strings.Join(r.Header.Values("Authorization"), "|")})
	}))
	shared := Token{AccessToken: "token-a"}.withAuthorization()
	for _, tc := range []struct {
		name string
		tok  Token
		want string
	}{
		{"prepared_shared_bytes", shared, "Bearer token-a"},
		{"prepared_own_bytes", Token{AccessToken: "token-a", Authorization: "Bearer " + "token-a"}, "Bearer token-a"},
		{"none", Token{AccessToken: "token-a"}, "Bearer token-a"},
		{"stale_other_token", Token{AccessToken: "token-b", Authorization: "Bearer token-a"}, "Bearer token-b"},
		{"other_scheme", Token{AccessToken: "token-a", Authorization: "Basic token-a"}, "Bearer token-a"},
		{"lower_case_scheme", Token{AccessToken: "token-a", Authorization: "bearer token-a"}, "Bearer token-a"},
		{"same_length_other_token", Token{AccessToken: "token-a", Authorization: "Bearer token-z"}, "Bearer token-a"},
		{"extra_bytes", Token{AccessToken: "token-a", Authorization: "Bearer token-a "}, "Bearer token-a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec.reset()
			src := TokenSourceFunc(func(context.Context, TokenRequest) (Token, error) { return tc.tok, nil })
			if status, _ := get(t, graphTransport(w, src), srv.url("graph.microsoft.com", "/")); status != 200 {
				t.Fatalf("status %d", status)
			}
			if got := rec.all(); len(got) != 1 || got[0].auth != tc.want {
				t.Errorf("server saw %+v, want Authorization %q", got, tc.want)
			}
		})
	}
}

// TestReuseTokenSourcePreparedAuthorizationFollowsToken checks that the
// Authorization value ReuseTokenSource prepares once per token is the
// new token's after a refresh, not the first one's.
func TestReuseTokenSourcePreparedAuthorizationFollowsToken(t *testing.T) {
	w := newWorld(t)
	rec := &recorder{}
	srv := w.tls(t, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rec.add(hit{auth: r.Header.Get("Authorization")})
	}))
	inner := &recordingSource{}
	src := ReuseTokenSource(inner)
	tr := graphTransport(w, src)
	url := srv.url("graph.microsoft.com", "/")
	get(t, tr, url)
	get(t, tr, url)
	tok, err := src.Token(context.Background(), TokenRequest{Scopes: graphScopes, ForceRefresh: true})
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken != "token-2" || tok.Authorization != "Bearer token-2" {
		t.Fatalf("forced refresh: token %q, Authorization %q", tok.AccessToken, tok.Authorization)
	}
	get(t, tr, url)
	var got []string
	for _, h := range rec.all() {
		got = append(got, h.auth)
	}
	if want := "Bearer token-1,Bearer token-1,Bearer token-2"; strings.Join(got, ",") != want {
		t.Errorf("server saw %q, want %q", got, want)
	}
	if n := len(inner.requests()); n != 2 {
		t.Errorf("%d calls to the source, want 2", n)
	}
}

// TestTransportHeaderNotSharedBetweenRequests changes the Authorization
// value of a response's request (the transport's clone, which the caller
// can reach) in place, and checks the next request still carries the
// token: the value's slice belongs to one request only.
func TestTransportHeaderNotSharedBetweenRequests(t *testing.T) {
	w := newWorld(t)
	rec := &recorder{}
	srv := w.tls(t, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rec.add(hit{auth: r.Header.Get("Authorization")})
	}))
	src := ReuseTokenSource(&recordingSource{})
	tr := graphTransport(w, src)
	for i := range 3 {
		req, _ := http.NewRequest("GET", srv.url("graph.microsoft.com", "/"), nil)
		req.Header.Set("Accept", "application/json")
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		// What a careless caller or middleware may do to the request it
		// finds on the response.
		resp.Request.Header["Authorization"][0] = "Bearer corrupted"
		resp.Request.Header["Accept"][0] = "corrupted"
		resp.Request.Header["Accept"] = append(resp.Request.Header["Accept"], "appended")
		if got := rec.all(); len(got) != i+1 || got[i].auth != "Bearer token-1" {
			t.Fatalf("request %d: server saw %+v", i, got)
		}
	}
	tok, err := src.Token(context.Background(), TokenRequest{Scopes: graphScopes})
	if err != nil || tok.Authorization != "Bearer token-1" {
		t.Errorf("cached token's Authorization %q, %v", tok.Authorization, err)
	}
}

// TestTransportCachedPathAllocations pins the allocations of a request
// whose token comes from a cache: no more than the floor's, a request
// clone and one header set to a value built beforehand. Counts are
// deterministic; a regression (a per-request header value, a copied
// slice) fails here.
func TestTransportCachedPathAllocations(t *testing.T) {
	base := nopTransport{resp: &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("")), Header: http.Header{}}}
	req, err := http.NewRequest("GET", "https://graph.microsoft.com/v1.0/me/messages?$top=10", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	header := "Bearer " + benchToken
	floor := testing.AllocsPerRun(200, func() {
		r2 := req.Clone(req.Context())
		r2.Header.Set("Authorization", header)
		sink, _ = base.RoundTrip(r2)
	})
	src := ReuseTokenSource(TokenSourceFunc(func(context.Context, TokenRequest) (Token, error) {
		return Token{AccessToken: benchToken, ExpiresOn: time.Now().Add(time.Hour)}, nil
	}))
	tr := &Transport{Source: src, Scopes: graphScopes, Base: base}
	var rtErr error
	ours := testing.AllocsPerRun(200, func() {
		sink, rtErr = tr.RoundTrip(req)
	})
	if rtErr != nil {
		t.Fatal(rtErr)
	}
	if ours > floor {
		t.Errorf("a cached token costs %v allocations per request, the floor %v", ours, floor)
	}
}
