package bearer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bearerhttp/bearer/challenge"
)

var graphScopes = []string{"https://graph.microsoft.com/.default"}

func graphTransport(w *world, src TokenSource) *Transport {
	return &Transport{Source: src, Scopes: graphScopes, Base: w.base}
}

// get sends a GET through rt and returns the status and body.
func get(t *testing.T, rt http.RoundTripper, url string) (int, string) {
	t.Helper()
	resp, err := (&http.Client{Transport: rt}).Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestTransportAttachesToken(t *testing.T) {
	w := newWorld(t)
	rec := &recorder{}
	srv := w.tls(t, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rec.add(hit{auth: r.Header.Get("Authorization"), path: r.URL.RequestURI()})
		io.WriteString(rw, "ok")
	}))
	src := &recordingSource{}
	status, body := get(t, graphTransport(w, src), srv.url("graph.microsoft.com", "/v1.0/me?$select=id"))
	if status != 200 || body != "ok" {
		t.Fatalf("got %d %q", status, body)
	}
	want := []hit{{auth: "Bearer token-1", path: "/v1.0/me?$select=id"}}
	if got := rec.all(); !reflect.DeepEqual(got, want) {
		t.Errorf("server saw %+v, want %+v", got, want)
	}
	if reqs := src.requests(); len(reqs) != 1 || !slices.Equal(reqs[0].Scopes, graphScopes) || reqs[0].Claims != "" || reqs[0].ForceRefresh || reqs[0].Challenge != nil {
		t.Errorf("source saw %+v, want one plain request for %v", reqs, graphScopes)
	}
}

// TestTransportDoesNotMutateRequest sends a request through a claims
// challenge and its resend, and checks the caller's request is as it was.
func TestTransportDoesNotMutateRequest(t *testing.T) {
	w := newWorld(t)
	rec := &recorder{}
	srv := w.tls(t, challengeFirst(rec, claimsChallenge, 100))
	req, err := http.NewRequest("POST", srv.url("graph.microsoft.com", "/v1.0/me/sendMail?x=1"), strings.NewReader("payload"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Test", "1")
	ctx := req.Context()
	var (
		header     = req.Header
		headerCopy = req.Header.Clone()
		u          = req.URL
		urlString  = req.URL.String()
		body       = req.Body
		getBody    = reflect.ValueOf(req.GetBody).Pointer()
		host       = req.Host
		length     = req.ContentLength
	)
	resp, err := graphTransport(w, &recordingSource{}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if reflect.ValueOf(req.Header).Pointer() != reflect.ValueOf(header).Pointer() {
		t.Error("req.Header is another map")
	}
	if !reflect.DeepEqual(req.Header, headerCopy) {
		t.Errorf("req.Header = %v, want %v", req.Header, headerCopy)
	}
	if req.URL != u || req.URL.String() != urlString {
		t.Errorf("req.URL changed to %v", req.URL)
	}
	if req.Body != body {
		t.Error("req.Body replaced")
	}
	if reflect.ValueOf(req.GetBody).Pointer() != getBody || req.Host != host || req.ContentLength != length || req.Context() != ctx {
		t.Error("GetBody, Host, ContentLength or the context changed")
	}
	if got := rec.all(); len(got) != 2 || got[0].body != "payload" || got[1].body != "payload" {
		t.Errorf("server saw %+v", got)
	}
}

func TestTransportCallerAuthorizationPassesThrough(t *testing.T) {
	w := newWorld(t)
	rec := &recorder{}
	srv := w.tls(t, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		// Every Authorization line the request had, whatever its spelling.
		rec.add(hit{auth: strings.Join(r.Header.Values("Authorization"), " | ")})
		unauthorized(rw, claimsChallenge, 10) // a challenge it must not act upon
	}))
	src := &recordingSource{}
	names := []string{"Authorization", "authorization", "AUTHORIZATION", "AuthoriZation", "aUTHORIZATION"}
	for _, name := range names {
		rec.reset()
		req, _ := http.NewRequest("GET", srv.url("graph.microsoft.com", "/"), nil)
		req.Header.Set("Accept", "application/json")
		req.Header[name] = []string{"Basic dXNlcjpwYXNz"}
		resp, err := graphTransport(w, src).RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want the 401 as it came", name, resp.StatusCode)
		}
		if got := rec.all(); len(got) != 1 || got[0].auth != "Basic dXNlcjpwYXNz" {
			t.Errorf("%s: server saw %+v, want one request with the caller's Authorization alone", name, got)
		}
	}
	if reqs := src.requests(); len(reqs) != 0 {
		t.Errorf("source was asked %d times", len(reqs))
	}
}

// TestCloneUnauthorized checks the transport's clone against
// http.Request.Clone, and that it finds Authorization keys of any
// spelling.
func TestCloneUnauthorized(t *testing.T) {
	ctx := context.WithValue(context.Background(), scopesKey{}, "x")
	req, _ := http.NewRequestWithContext(ctx, "POST", "https://user:pw@graph.microsoft.com/v1.0/me?a=1", strings.NewReader("body"))
	req.Header.Set("Accept", "application/json")
	req.Header.Add("X-Multi", "1")
	req.Header.Add("X-Multi", "2")
	req.Header["X-Nil"] = nil
	req.TransferEncoding = []string{"chunked"}
	want := req.Clone(ctx)
	got, slot := cloneUnauthorized(req)
	if got == nil {
		t.Fatal("nil clone of a request without Authorization")
	}
	// The Authorization slot is the clone's own, and appending to any
	// other value cannot write into it.
	if len(slot) != 1 || cap(slot) != 1 || slot[0] != "" {
		t.Fatalf("slot %q (cap %d), want one empty string", slot, cap(slot))
	}
	slot[0] = "Bearer slot"
	for k, vv := range got.Header {
		got.Header[k] = append(vv, "appended")
	}
	if slot[0] != "Bearer slot" || req.Header.Get("Authorization") != "" {
		t.Fatalf("appending to the clone's header values wrote %q into the slot", slot[0])
	}
	got, _ = cloneUnauthorized(req)
	if !reflect.DeepEqual(got.Header, want.Header) || got.Header["X-Nil"] != nil {
		t.Errorf("header %#v, want %#v", got.Header, want.Header)
	}
	if got.URL == req.URL || got.URL.String() != want.URL.String() || got.URL.User == req.URL.User {
		t.Errorf("URL %v: not a copy of %v", got.URL, req.URL)
	}
	if got.Context() != ctx || got.Body != req.Body || got.Method != "POST" || got.ContentLength != req.ContentLength || !slices.Equal(got.TransferEncoding, req.TransferEncoding) {
		t.Errorf("clone %+v differs from the request", got)
	}
	got.Header.Set("Authorization", "Bearer x")
	got.Header["X-Multi"][0] = "changed"
	got.TransferEncoding[0] = "changed"
	if req.Header.Get("Authorization") != "" || req.Header["X-Multi"][0] != "1" || req.TransferEncoding[0] != "chunked" {
		t.Error("changing the clone changed the request")
	}
	for _, name := range []string{"AUTHORIZATION", "AuthoriZation", "aUTHORIZATION"} {
		r := req.Clone(ctx)
		r.Header[name] = []string{"Basic x"}
		if c, _ := cloneUnauthorized(r); c != nil {
			t.Errorf("%s: got a clone, want nil (the caller's own Authorization)", name)
		}
	}
	empty, _ := http.NewRequest("GET", "https://graph.microsoft.com/", nil)
	empty.Header = nil
	if c, slot := cloneUnauthorized(empty); c == nil || c.Header != nil || slot != nil {
		t.Errorf("a request with no header map: %+v", c)
	}
}

func TestTransportRedirect(t *testing.T) {
	w := newWorld(t)
	landed := &recorder{}
	foreign := w.tls(t, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		landed.add(hit{auth: r.Header.Get("Authorization"), path: r.Host})
		io.WriteString(rw, "landed")
	}))
	start := &recorder{}
	var home *server
	home = w.tls(t, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		start.add(hit{auth: r.Header.Get("Authorization"), path: r.URL.Path})
		switch r.URL.Path {
		case "/away":
			http.Redirect(rw, r, foreign.url("example.com", "/landing"), http.StatusFound)
		case "/home":
			http.Redirect(rw, r, home.url("graph.microsoft.com", "/done"), http.StatusFound)
		default:
			io.WriteString(rw, "home")
		}
	}))

	t.Run("to a foreign host carries no token", func(t *testing.T) {
		src := &recordingSource{}
		status, body := get(t, graphTransport(w, src), home.url("graph.microsoft.com", "/away"))
		if status != 200 || body != "landed" {
			t.Fatalf("got %d %q", status, body)
		}
		if got := landed.all(); len(got) != 1 || got[0].auth != "" || !strings.HasPrefix(got[0].path, "example.com:") {
			t.Errorf("foreign host saw %+v, want one request without Authorization", got)
		}
		if n := len(src.requests()); n != 1 {
			t.Errorf("source asked %d times, want 1 (for the first hop)", n)
		}
	})
	t.Run("within an allowed host keeps the token", func(t *testing.T) {
		start.reset()
		status, _ := get(t, graphTransport(w, &recordingSource{}), home.url("graph.microsoft.com", "/home"))
		if status != 200 {
			t.Fatalf("status %d", status)
		}
		got := start.all()
		if len(got) != 2 || got[0].auth != "Bearer token-1" || got[1].auth != "Bearer token-2" {
			t.Errorf("home saw %+v", got)
		}
	})
	t.Run("downgrade to plain http is refused", func(t *testing.T) {
		plain := w.plain(t, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			t.Errorf("plain server reached with Authorization %q", r.Header.Get("Authorization"))
		}))
		down := w.tls(t, http.RedirectHandler(plain.url("graph.microsoft.com", "/"), http.StatusFound))
		_, err := (&http.Client{Transport: graphTransport(w, &recordingSource{})}).Get(down.url("graph.microsoft.com", "/"))
		if !errors.Is(err, ErrInsecure) {
			t.Errorf("error %v, want ErrInsecure", err)
		}
	})
}

// TestTransportRedirectBetweenAllowedHosts follows redirects between
// hosts that one "*.suffix" rule allows (two storage accounts, which may
// belong to different owners): the token stays on the first request's
// origin unless RedirectsBetweenAllowedHosts says otherwise.
func TestTransportRedirectBetweenAllowedHosts(t *testing.T) {
	w := newWorld(t)
	const (
		victim   = "victim.blob.core.windows.net"
		attacker = "attacker.blob.core.windows.net"
	)
	rec := &recorder{}
	var a, b *server
	handler := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		host, _, _ := strings.Cut(r.Host, ":")
		rec.add(hit{auth: r.Header.Get("Authorization"), path: host + r.URL.Path})
		switch r.URL.Path {
		case "/to-attacker":
			http.Redirect(rw, r, a.url(attacker, "/landing"), http.StatusFound)
		case "/to-attacker-307":
			http.Redirect(rw, r, a.url(attacker, "/landing"), http.StatusTemporaryRedirect)
		case "/via-attacker":
			http.Redirect(rw, r, a.url(attacker, "/back"), http.StatusFound)
		case "/back":
			http.Redirect(rw, r, a.url(victim, "/landing"), http.StatusFound)
		case "/to-self":
			http.Redirect(rw, r, "/landing", http.StatusFound)
		case "/to-other-port":
			http.Redirect(rw, r, b.url(victim, "/landing"), http.StatusFound)
		case "/to-victim":
			http.Redirect(rw, r, a.url(victim, "/landing"), http.StatusFound)
		default:
			io.WriteString(rw, "landed")
		}
	})
	a, b = w.tls(t, handler), w.tls(t, handler)
	storage := []string{"https://storage.azure.com/.default"}
	tests := []struct {
		name   string
		optIn  bool
		method string
		start  string
		want   []hit // auth "" or "token": whether a token went along
	}{
		{"to another allowed host carries no token", false, "GET", a.url(victim, "/to-attacker"),
			[]hit{{"token", "", victim + "/to-attacker"}, {"", "", attacker + "/landing"}}},
		{"a 307 with its body to another allowed host carries no token", false, "POST", a.url(victim, "/to-attacker-307"),
			[]hit{{"token", "", victim + "/to-attacker-307"}, {"", "", attacker + "/landing"}}},
		{"back to the first request's host carries the token", false, "GET", a.url(victim, "/via-attacker"),
			[]hit{{"token", "", victim + "/via-attacker"}, {"", "", attacker + "/back"}, {"token", "", victim + "/landing"}}},
		{"on the same host and port carries the token", false, "GET", a.url(victim, "/to-self"),
			[]hit{{"token", "", victim + "/to-self"}, {"token", "", victim + "/landing"}}},
		{"to the same host on another port carries no token", false, "GET", a.url(victim, "/to-other-port"),
			[]hit{{"token", "", victim + "/to-other-port"}, {"", "", victim + "/landing"}}},
		{"from a host that is not allowed carries no token", false, "GET", a.url("example.com", "/to-victim"),
			[]hit{{"", "", "example.com/to-victim"}, {"", "", victim + "/landing"}}},
		{"with the opt-in, to another allowed host carries the token", true, "GET", a.url(victim, "/to-attacker"),
			[]hit{{"token", "", victim + "/to-attacker"}, {"token", "", attacker + "/landing"}}},
		{"with the opt-in, from a host that is not allowed carries no token", true, "GET", a.url("example.com", "/to-victim"),
			[]hit{{"", "", "example.com/to-victim"}, {"", "", victim + "/landing"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec.reset()
			tr := &Transport{Source: &recordingSource{}, Scopes: storage, Base: w.base, RedirectsBetweenAllowedHosts: tt.optIn}
			req, err := http.NewRequest(tt.method, tt.start, strings.NewReader("body"))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := (&http.Client{Transport: tr}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			got := rec.all()
			for i := range got {
				if strings.HasPrefix(got[i].auth, "Bearer token-") {
					got[i].auth = "token"
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("servers saw %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestTransportRedirectChainNotFollowedBack checks that a redirect whose
// chain cannot be followed back to its first request (Response.Request
// nil) carries no token, even to the first request's host.
func TestTransportRedirectChainNotFollowedBack(t *testing.T) {
	w := newWorld(t)
	rec := &recorder{}
	srv := w.tls(t, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rec.add(hit{auth: r.Header.Get("Authorization")})
	}))
	first, _ := http.NewRequest("GET", srv.url("graph.microsoft.com", "/"), nil)
	req, _ := http.NewRequest("GET", srv.url("graph.microsoft.com", "/next"), nil)
	req.Response = &http.Response{StatusCode: http.StatusFound, Request: first}
	for _, broken := range []bool{false, true} {
		rec.reset()
		if broken {
			req.Response.Request = nil
		}
		resp, err := graphTransport(w, &recordingSource{}).RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		want := "Bearer token-1"
		if broken {
			want = ""
		}
		if got := rec.all(); len(got) != 1 || got[0].auth != want {
			t.Errorf("broken chain %v: server saw %+v, want Authorization %q", broken, got, want)
		}
	}
}

// onceReader is a body net/http cannot replay (NewRequest sets no GetBody).
type onceReader struct{ io.Reader }

func TestTransportNonReplayableBodyIsNeverResent(t *testing.T) {
	w := newWorld(t)
	rec := &recorder{}
	srv := w.tls(t, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rec.add(hit{auth: r.Header.Get("Authorization"), body: string(b)})
		unauthorized(rw, claimsChallenge, 10)
	}))
	src := &recordingSource{}
	req, _ := http.NewRequest("POST", srv.url("graph.microsoft.com", "/"), onceReader{strings.NewReader("payload")})
	if req.GetBody != nil {
		t.Fatal("test request is replayable")
	}
	resp, err := graphTransport(w, src).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("status %d, want 401", resp.StatusCode)
	}
	if got := rec.all(); len(got) != 1 || got[0].body != "payload" {
		t.Errorf("server saw %+v, want the request once", got)
	}
	if n := len(src.requests()); n != 1 {
		t.Errorf("source asked %d times, want 1 (no claims request for a request that cannot be resent)", n)
	}
}

func TestTransportSecondChallengeIsReturned(t *testing.T) {
	w := newWorld(t)
	rec := &recorder{}
	srv := w.tls(t, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		n := rec.add(hit{auth: r.Header.Get("Authorization")})
		w := rw
		w.Header().Set("WWW-Authenticate", claimsChallenge)
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, "challenge %d", n)
	}))
	src := &recordingSource{}
	status, body := get(t, graphTransport(w, src), srv.url("graph.microsoft.com", "/"))
	if status != http.StatusUnauthorized || body != "challenge 2" {
		t.Errorf("got %d %q, want the second 401 as it came", status, body)
	}
	if got := rec.all(); len(got) != 2 || got[0].auth != "Bearer token-1" || got[1].auth != "Bearer token-2" {
		t.Errorf("server saw %+v", got)
	}
	reqs := src.requests()
	if len(reqs) != 2 || reqs[0].Claims != "" || reqs[1].Claims != caeClaims {
		t.Errorf("source saw %+v", reqs)
	}
}

func TestTransportChallengeFromHostNotAllowed(t *testing.T) {
	w := newWorld(t)
	rec := &recorder{}
	srv := w.tls(t, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rec.add(hit{auth: r.Header.Get("Authorization")})
		unauthorized(rw, claimsChallenge, 10)
	}))
	src := &recordingSource{}
	status, _ := get(t, graphTransport(w, src), srv.url("example.com", "/"))
	if status != http.StatusUnauthorized {
		t.Errorf("status %d", status)
	}
	if got := rec.all(); len(got) != 1 || got[0].auth != "" {
		t.Errorf("server saw %+v, want one request without a token", got)
	}
	if n := len(src.requests()); n != 0 {
		t.Errorf("source asked %d times, want 0", n)
	}
}

func TestTransportConcurrentRequests(t *testing.T) {
	w := newWorld(t)
	rec := &recorder{}
	srv := w.tls(t, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rec.add(hit{auth: r.Header.Get("Authorization")})
		io.WriteString(rw, "ok")
	}))
	src := &recordingSource{}
	client := &http.Client{Transport: graphTransport(w, ReuseTokenSource(src))}
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for range 40 {
		wg.Go(func() {
			for range 5 {
				resp, err := client.Get(srv.url("graph.microsoft.com", "/"))
				if err != nil {
					errs <- err
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errs <- fmt.Errorf("status %d", resp.StatusCode)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	hits := rec.all()
	if len(hits) != 200 {
		t.Errorf("server saw %d requests", len(hits))
	}
	for _, h := range hits {
		if h.auth != "Bearer token-1" {
			t.Fatalf("a request carried %q", h.auth)
		}
	}
	if n := len(src.requests()); n != 1 {
		t.Errorf("source asked %d times, want 1", n)
	}
}

func TestTransportContextWithScopes(t *testing.T) {
	w := newWorld(t)
	rec := &recorder{}
	srv := w.tls(t, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rec.add(hit{auth: r.Header.Get("Authorization"), path: r.Host})
	}))
	vault := []string{"https://vault.azure.net/.default"}
	src := &recordingSource{}
	tr := graphTransport(w, src)
	send := func(host string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ContextWithScopes(context.Background(), vault...), "GET", srv.url(host, "/secrets/x"), nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	send("myvault.vault.azure.net")
	send("graph.microsoft.com") // allowed by the transport's scopes, not by the request's
	got := rec.all()
	if len(got) != 2 || got[0].auth != "Bearer token-1" || got[1].auth != "" {
		t.Errorf("server saw %+v, want a token for the vault only", got)
	}
	if reqs := src.requests(); len(reqs) != 1 || !slices.Equal(reqs[0].Scopes, vault) {
		t.Errorf("source saw %+v, want one request for %v", reqs, vault)
	}

	t.Run("AllowedHosts still rule", func(t *testing.T) {
		rec.reset()
		src := &recordingSource{}
		tr := &Transport{Source: src, Scopes: graphScopes, Base: w.base, AllowedHosts: []string{"example.com"}}
		req, _ := http.NewRequestWithContext(ContextWithScopes(context.Background(), vault...), "GET", srv.url("example.com", "/"), nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := rec.all(); len(got) != 1 || got[0].auth != "Bearer token-1" {
			t.Errorf("server saw %+v", got)
		}
		if reqs := src.requests(); len(reqs) != 1 || !slices.Equal(reqs[0].Scopes, vault) {
			t.Errorf("source saw %+v", reqs)
		}
	})
	t.Run("scopes are copied", func(t *testing.T) {
		s := []string{"https://vault.azure.net/.default"}
		ctx := ContextWithScopes(context.Background(), s...)
		s[0] = "changed"
		if cs := ctx.Value(scopesKey{}).(*contextScopes); cs.scopes[0] != "https://vault.azure.net/.default" {
			t.Errorf("context scopes follow the caller's slice: %v", cs.scopes)
		}
	})
}

// challengeFirst answers the first request with a 401 carrying ch (and a
// body of n bytes), and later requests with 200; it records what it saw.
func challengeFirst(rec *recorder, ch string, n int) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if rec.add(hit{auth: r.Header.Get("Authorization"), body: string(b)}) == 1 {
			unauthorized(rw, ch, n)
			return
		}
		io.WriteString(rw, "ok")
	})
}

func TestTransportClaimsChallengeReplaysBody(t *testing.T) {
	w := newWorld(t)
	rec := &recorder{}
	srv := w.tls(t, challengeFirst(rec, claimsChallenge, 4096))
	src := &recordingSource{}
	resp, err := (&http.Client{Transport: graphTransport(w, src)}).Post(srv.url("graph.microsoft.com", "/v1.0/me/sendMail"), "application/json", strings.NewReader(`{"message":{}}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "ok" {
		t.Fatalf("got %d %q", resp.StatusCode, b)
	}
	want := []hit{{auth: "Bearer token-1", body: `{"message":{}}`}, {auth: "Bearer token-2", body: `{"message":{}}`}}
	if got := rec.all(); !reflect.DeepEqual(got, want) {
		t.Errorf("server saw %+v, want %+v", got, want)
	}
	reqs := src.requests()
	if len(reqs) != 2 {
		t.Fatalf("source saw %d requests", len(reqs))
	}
	if r := reqs[1]; r.Claims != caeClaims || r.Challenge == nil || !r.Challenge.IsCAE() || !slices.Equal(r.Scopes, graphScopes) || r.ForceRefresh {
		t.Errorf("claims request %+v", r)
	}
	if n := srv.conns.Load(); n != 1 {
		t.Errorf("%d connections, want 1: the 401 must be drained and closed before the resend", n)
	}
}

func TestTransportLargeChallengeBody(t *testing.T) {
	// A 401 body over the drain limit is read up to the limit and closed,
	// not read to the end, and the resend still succeeds. (Whether the
	// connection is then reused is net/http's business, and differs
	// between Go releases; what the transport reads is ours.)
	w := newWorld(t)
	rec := &recorder{}
	srv := w.tls(t, challengeFirst(rec, claimsChallenge, maxDrain+64<<10))
	counted := &countingBase{base: w.base}
	tr := &Transport{Source: &recordingSource{}, Scopes: graphScopes, Base: counted}
	status, _ := get(t, tr, srv.url("graph.microsoft.com", "/"))
	if status != 200 {
		t.Fatalf("status %d", status)
	}
	counted.mu.Lock()
	defer counted.mu.Unlock()
	if len(counted.bodies) != 2 {
		t.Fatalf("%d responses, want 2", len(counted.bodies))
	}
	first := counted.bodies[0]
	if first.read > maxDrain || first.read < maxDrain/2 || !first.closed {
		t.Errorf("401 body: %d bytes read (limit %d), closed %v", first.read, maxDrain, first.closed)
	}
}

// countingBase is a RoundTripper that counts what is read of each
// response body and whether it was closed.
type countingBase struct {
	base   http.RoundTripper
	mu     sync.Mutex
	bodies []*countingBody
}

type countingBody struct {
	io.ReadCloser
	mu     *sync.Mutex
	read   int
	closed bool
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.mu.Lock()
	c.read += n
	c.mu.Unlock()
	return n, err
}

func (c *countingBody) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	return c.ReadCloser.Close()
}

func (c *countingBase) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	b := &countingBody{ReadCloser: resp.Body, mu: &c.mu}
	c.mu.Lock()
	c.bodies = append(c.bodies, b)
	c.mu.Unlock()
	resp.Body = b
	return resp, nil
}

func TestTransportStepUp(t *testing.T) {
	w := newWorld(t)
	rec := &recorder{}
	srv := w.tls(t, challengeFirst(rec, `Bearer error="insufficient_user_authentication", error_description="A different authentication level is required", acr_values="myACR"`, 10))
	src := &recordingSource{}
	status, _ := get(t, graphTransport(w, src), srv.url("graph.microsoft.com", "/"))
	if status != 200 {
		t.Fatalf("status %d", status)
	}
	reqs := src.requests()
	if len(reqs) != 2 {
		t.Fatalf("source saw %d requests", len(reqs))
	}
	if r := reqs[1]; r.Challenge == nil || !r.Challenge.IsStepUp() || r.Challenge.Param("acr_values") != "myACR" || r.Claims != "" || r.ForceRefresh {
		t.Errorf("step-up request %+v", r)
	}
	if got := rec.all(); len(got) != 2 || got[1].auth != "Bearer token-2" {
		t.Errorf("server saw %+v", got)
	}
}

func TestTransportInvalidTokenForcesRefresh(t *testing.T) {
	w := newWorld(t)
	rec := &recorder{}
	srv := w.tls(t, challengeFirst(rec, `Bearer realm="", error="invalid_token", error_description="The access token expired"`, 10))
	src := &recordingSource{}
	status, _ := get(t, graphTransport(w, src), srv.url("graph.microsoft.com", "/"))
	if status != 200 {
		t.Fatalf("status %d", status)
	}
	reqs := src.requests()
	if len(reqs) != 2 || !reqs[1].ForceRefresh || reqs[1].Claims != "" || reqs[1].Challenge == nil || !reqs[1].Challenge.IsInvalidToken() {
		t.Errorf("source saw %+v, want a ForceRefresh request with the invalid_token challenge second", reqs)
	}
	if got := rec.all(); len(got) != 2 || got[1].auth != "Bearer token-2" {
		t.Errorf("server saw %+v", got)
	}
}

// TestTransportInvalidTokenRefreshesAreBounded sends 30 requests to a
// resource that refuses every token with invalid_token, through a
// Transport whose source is ReuseTokenSource: the source's own source is
// asked twice (the first token, one forced refresh), not 31 times, and
// the transport does not resend a token that was just refused. After 30
// seconds on the source's clock, one more forced refresh is allowed.
func TestTransportInvalidTokenRefreshesAreBounded(t *testing.T) {
	w := newWorld(t)
	rec := &recorder{}
	srv := w.tls(t, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rec.add(hit{auth: r.Header.Get("Authorization")})
		unauthorized(rw, `Bearer realm="", error="invalid_token", error_description="The access token is invalid"`, 10)
	}))
	src := &recordingSource{}
	reuse := ReuseTokenSource(src).(*reuseSource)
	var skew atomic.Int64 // the source's wall clock, ahead of the real one
	reuse.clock.wallNow = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	tr := graphTransport(w, reuse)
	for i := range 30 {
		if status, _ := get(t, tr, srv.url("graph.microsoft.com", "/")); status != http.StatusUnauthorized {
			t.Fatalf("request %d: status %d", i, status)
		}
	}
	reqs := src.requests()
	if len(reqs) != 2 || reqs[0].ForceRefresh || !reqs[1].ForceRefresh || reqs[1].Challenge == nil {
		t.Fatalf("source asked %d times, want twice: the first token, one forced refresh", len(reqs))
	}
	hits := rec.all()
	if len(hits) != 31 {
		t.Errorf("resource saw %d requests, want 31 (one resend in all)", len(hits))
	}
	for i, h := range hits {
		want := "Bearer token-2"
		if i == 0 {
			want = "Bearer token-1"
		}
		if h.auth != want {
			t.Errorf("resource request %d carried %q, want %q", i, h.auth, want)
		}
	}

	skew.Store(int64(forcedRefreshInterval))
	if status, _ := get(t, tr, srv.url("graph.microsoft.com", "/")); status != http.StatusUnauthorized {
		t.Fatalf("status %d", status)
	}
	if n := len(src.requests()); n != 3 {
		t.Errorf("30 s later: source asked %d times in all, want 3", n)
	}
	if hits := rec.all(); len(hits) != 33 || hits[32].auth != "Bearer token-3" {
		t.Errorf("30 s later: resource saw %d requests in all, want 33, the last with token-3", len(hits))
	}

	// A caller's own ForceRefresh is never limited.
	for range 3 {
		if _, err := reuse.Token(t.Context(), TokenRequest{Scopes: graphScopes, ForceRefresh: true}); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(src.requests()); n != 6 {
		t.Errorf("after 3 explicit ForceRefresh: source asked %d times in all, want 6", n)
	}
}

// TestTransportInvalidTokenRefreshesAreBoundedConcurrently sends 30
// requests at once to a resource that refuses every token: the source
// behind ReuseTokenSource is asked twice.
func TestTransportInvalidTokenRefreshesAreBoundedConcurrently(t *testing.T) {
	w := newWorld(t)
	srv := w.tls(t, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		unauthorized(rw, `Bearer error="invalid_token"`, 10)
	}))
	src := &recordingSource{}
	tr := graphTransport(w, ReuseTokenSource(src))
	var wg sync.WaitGroup
	for range 30 {
		wg.Go(func() {
			resp, err := (&http.Client{Transport: tr}).Get(srv.url("graph.microsoft.com", "/"))
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("status %d", resp.StatusCode)
			}
		})
	}
	wg.Wait()
	if reqs := src.requests(); len(reqs) != 2 {
		t.Errorf("source asked %d times, want 2", len(reqs))
	}
}

func TestTransportUndecodableClaimsReturns401(t *testing.T) {
	w := newWorld(t)
	rec := &recorder{}
	srv := w.tls(t, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rec.add(hit{})
		rw.Header().Set("WWW-Authenticate", `Bearer claims="not base64", error="insufficient_claims"`)
		rw.WriteHeader(http.StatusUnauthorized)
		io.WriteString(rw, "the original body")
	}))
	src := &recordingSource{}
	status, body := get(t, graphTransport(w, src), srv.url("graph.microsoft.com", "/"))
	if status != http.StatusUnauthorized || body != "the original body" {
		t.Errorf("got %d %q, want the 401 unchanged", status, body)
	}
	if n := len(src.requests()); n != 1 {
		t.Errorf("source asked %d times, want 1", n)
	}
	if n := len(rec.all()); n != 1 {
		t.Errorf("server saw %d requests, want 1", n)
	}
}

func TestTransportSourceErrorIsChallengeError(t *testing.T) {
	w := newWorld(t)
	srv := w.tls(t, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stepup" {
			unauthorized(rw, `Bearer error="insufficient_user_authentication", acr_values="c1"`, 8192)
			return
		}
		io.WriteString(rw, "ok")
	}))
	src := &recordingSource{fail: func(r TokenRequest) error {
		if r.Challenge != nil {
			return fmt.Errorf("daemon cannot sign in: %w", ErrInteractionRequired)
		}
		return nil
	}}
	client := &http.Client{Transport: graphTransport(w, src)}
	resp, err := client.Get(srv.url("graph.microsoft.com", "/stepup"))
	if resp != nil {
		resp.Body.Close()
		t.Fatalf("got a response (%d) with error %v", resp.StatusCode, err)
	}
	var ce *ChallengeError
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not a *ChallengeError", err, err)
	}
	if !errors.Is(err, ErrInteractionRequired) {
		t.Errorf("error %v does not wrap ErrInteractionRequired", err)
	}
	if ce.StatusCode != 401 || !ce.Challenge.IsStepUp() || ce.Challenge.Param("acr_values") != "c1" || !strings.Contains(ce.Header.Get("WWW-Authenticate"), "insufficient_user_authentication") {
		t.Errorf("ChallengeError %+v", ce)
	}
	if msg := err.Error(); !strings.Contains(msg, "insufficient_user_authentication") || !strings.Contains(msg, "daemon cannot sign in") {
		t.Errorf("error message %q does not say which challenge and why", msg)
	}
	// The 401 was drained and closed: the next request reuses its connection.
	status, _ := get(t, client.Transport, srv.url("graph.microsoft.com", "/ok"))
	if status != 200 {
		t.Fatalf("status %d", status)
	}
	if n := srv.conns.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

func TestTransportHTTP(t *testing.T) {
	w := newWorld(t)
	rec := &recorder{}
	plain := w.plain(t, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rec.add(hit{auth: r.Header.Get("Authorization"), path: r.Host})
	}))
	tests := []struct {
		name      string
		tr        func(src TokenSource) *Transport
		url       string
		wantErr   error
		wantAuth  string
		wantAsked int
	}{
		{"to a non-loopback host is refused",
			func(src TokenSource) *Transport {
				return &Transport{Source: src, Base: w.base, AllowedHosts: []string{"example.com"}}
			}, plain.url("example.com", "/"), ErrInsecure, "", 0},
		{"to an IP loopback address is allowed",
			func(src TokenSource) *Transport {
				return &Transport{Source: src, Base: w.base, AllowedHosts: []string{"127.0.0.1"}}
			}, plain.url("127.0.0.1", "/"), nil, "Bearer token-1", 1},
		{"to localhost is allowed",
			func(src TokenSource) *Transport {
				return &Transport{Source: src, Base: w.base, AllowedHosts: []string{"localhost"}}
			}, plain.url("localhost", "/"), nil, "Bearer token-1", 1},
		{"with AllowHTTP is allowed",
			func(src TokenSource) *Transport {
				return &Transport{Source: src, Base: w.base, AllowedHosts: []string{"example.com"}, AllowHTTP: true}
			}, plain.url("example.com", "/"), nil, "Bearer token-1", 1},
		{"to a host that is not allowed goes out without a token",
			func(src TokenSource) *Transport { return graphTransport(w, src) },
			plain.url("example.com", "/"), nil, "", 0},
		{"with the scheme in capitals is refused",
			func(src TokenSource) *Transport { return graphTransport(w, src) },
			"HTTP://graph.microsoft.com:" + plain.port + "/", ErrInsecure, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec.reset()
			src := &recordingSource{}
			req, err := http.NewRequest("GET", tt.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := tt.tr(src).RoundTrip(req)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error %v, want %v", err, tt.wantErr)
				}
				if len(rec.all()) != 0 {
					t.Error("the request was sent")
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if got := rec.all(); len(got) != 1 || got[0].auth != tt.wantAuth {
					t.Errorf("server saw %+v, want Authorization %q", got, tt.wantAuth)
				}
			}
			if n := len(src.requests()); n != tt.wantAsked {
				t.Errorf("source asked %d times, want %d", n, tt.wantAsked)
			}
		})
	}
}

// TestTransportHTTPThroughProxy sends plain HTTP to loopback through a
// base transport whose proxy (a real forward proxy on loopback) would
// carry it: refused before any token is asked for, since the token would
// reach the proxy in clear.
func TestTransportHTTPThroughProxy(t *testing.T) {
	w := newWorld(t)
	target := &recorder{}
	plain := w.plain(t, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		target.add(hit{auth: r.Header.Get("Authorization")})
		io.WriteString(rw, "direct")
	}))
	proxied := &recorder{}
	proxy := w.plain(t, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		// A forward proxy receives the absolute URL; answering itself is
		// enough to see what it was given.
		proxied.add(hit{auth: r.Header.Get("Authorization"), path: r.RequestURI})
		io.WriteString(rw, "proxied")
	}))
	proxyURL, err := url.Parse("http://user:proxy-pw@" + net.JoinHostPort("127.0.0.1", proxy.port))
	if err != nil {
		t.Fatal(err)
	}
	throughProxy := func() *http.Transport {
		tr := &http.Transport{Proxy: http.ProxyURL(proxyURL)}
		t.Cleanup(tr.CloseIdleConnections)
		return tr
	}
	tests := []struct {
		name      string
		base      func() http.RoundTripper // nil: leave Base nil
		defaultTr http.RoundTripper        // replaces http.DefaultTransport for the test
		allowHTTP bool
		wantErr   string // in the error, which wraps ErrInsecure; "" for no error
		wantProxy string // Authorization the proxy saw, "-" for no request
		wantAsked int
	}{
		{name: "an http.Transport with a proxy is refused",
			base: func() http.RoundTripper { return throughProxy() }, wantErr: "through the proxy 127.0.0.1:" + proxy.port, wantProxy: "-"},
		{name: "http.DefaultTransport with a proxy is refused",
			defaultTr: throughProxy(), wantErr: "through the proxy", wantProxy: "-"},
		{name: "a proxy function that fails is refused",
			base: func() http.RoundTripper {
				return &http.Transport{Proxy: func(*http.Request) (*url.URL, error) { return nil, errors.New("bad proxy http://u:secret@p") }}
			}, wantErr: "Proxy function failed", wantProxy: "-"},
		{name: "a proxy function that skips the request is not refused",
			base: func() http.RoundTripper {
				tr := &http.Transport{Proxy: func(*http.Request) (*url.URL, error) { return nil, nil }}
				t.Cleanup(tr.CloseIdleConnections)
				return tr
			}, wantProxy: "-", wantAsked: 1},
		{name: "with AllowHTTP the proxy carries it",
			base: func() http.RoundTripper { return throughProxy() }, allowHTTP: true, wantProxy: "Bearer token-1", wantAsked: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target.reset()
			proxied.reset()
			if tt.defaultTr != nil {
				saved := http.DefaultTransport
				http.DefaultTransport = tt.defaultTr
				t.Cleanup(func() { http.DefaultTransport = saved })
			}
			src := &recordingSource{}
			tr := &Transport{Source: src, AllowedHosts: []string{"127.0.0.1"}, AllowHTTP: tt.allowHTTP}
			if tt.base != nil {
				tr.Base = tt.base()
			}
			resp, err := (&http.Client{Transport: tr}).Get(plain.url("127.0.0.1", "/"))
			if tt.wantErr != "" {
				if !errors.Is(err, ErrInsecure) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %v, want ErrInsecure mentioning %q", err, tt.wantErr)
				}
				if err != nil && (strings.Contains(err.Error(), "proxy-pw") || strings.Contains(err.Error(), "secret")) {
					t.Errorf("error %q holds a proxy credential", err)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
			}
			got := proxied.all()
			switch {
			case tt.wantProxy == "-" && len(got) != 0:
				t.Errorf("the proxy saw %+v, want nothing", got)
			case tt.wantProxy != "-" && (len(got) != 1 || got[0].auth != tt.wantProxy):
				t.Errorf("the proxy saw %+v, want one request with %q", got, tt.wantProxy)
			}
			if tt.wantErr == "" && tt.wantProxy == "-" {
				if got := target.all(); len(got) != 1 || got[0].auth != "Bearer token-1" {
					t.Errorf("the target saw %+v, want one request with the token", got)
				}
			}
			if n := len(src.requests()); n != tt.wantAsked {
				t.Errorf("source asked %d times, want %d", n, tt.wantAsked)
			}
		})
	}
}

// TestTransportAllowedHostWithPort sends requests to two servers on
// loopback, on two ports, with AllowedHosts naming one host and port:
// only that one gets a token.
func TestTransportAllowedHostWithPort(t *testing.T) {
	w := newWorld(t)
	rec := &recorder{}
	handler := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rec.add(hit{auth: r.Header.Get("Authorization"), path: r.Host})
	})
	a, b := w.tls(t, handler), w.tls(t, handler)
	pa, pb := w.plain(t, handler), w.plain(t, handler)
	tests := []struct {
		name  string
		entry string
		url   string
		token bool
	}{
		{"IPv4 on its port", "127.0.0.1:" + a.port, a.url("127.0.0.1", "/"), true},
		{"IPv4 on another port", "127.0.0.1:" + a.port, b.url("127.0.0.1", "/"), false},
		{"name on its port", "graph.microsoft.com:" + a.port, a.url("graph.microsoft.com", "/"), true},
		{"name on another port", "graph.microsoft.com:" + a.port, b.url("graph.microsoft.com", "/"), false},
		{"suffix on its port", "*.blob.core.windows.net:" + a.port, a.url("acct.blob.core.windows.net", "/"), true},
		{"suffix on another port", "*.blob.core.windows.net:" + a.port, b.url("acct.blob.core.windows.net", "/"), false},
		{"IPv6 on its port (plain http to loopback)", "[::1]:" + pa.port, "http://[::1]:" + pa.port + "/", true},
		{"IPv6 on another port", "[::1]:" + pa.port, "http://[::1]:" + pb.port + "/", false},
		{"localhost on its port", "localhost:" + pa.port, pa.url("localhost", "/"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec.reset()
			src := &recordingSource{}
			tr := &Transport{Source: src, AllowedHosts: []string{tt.entry}, Base: w.base}
			status, _ := get(t, tr, tt.url)
			if status != 200 {
				t.Fatalf("status %d", status)
			}
			want, asked := "", 0
			if tt.token {
				want, asked = "Bearer token-1", 1
			}
			if got := rec.all(); len(got) != 1 || got[0].auth != want {
				t.Errorf("server saw %+v, want Authorization %q", got, want)
			}
			if n := len(src.requests()); n != asked {
				t.Errorf("source asked %d times, want %d", n, asked)
			}
		})
	}
}

// closeRecorder is a request body that records Close.
type closeRecorder struct {
	io.Reader
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

func TestTransportConfigurationErrors(t *testing.T) {
	src := &recordingSource{}
	tests := []struct {
		name string
		tr   *Transport
		ctx  context.Context
		want error  // errors.Is, when not nil
		text string // in the message
	}{
		{"no source", &Transport{Scopes: graphScopes}, nil, nil, "Source is nil"},
		{"no scopes", &Transport{Source: src}, nil, ErrNoAllowedHost, "no host"},
		{"scopes that name no host", &Transport{Source: src, Scopes: []string{"api://my-api/.default", "http://example.com/x"}}, nil, ErrNoAllowedHost, "api://my-api/.default"},
		{"context scopes that name no host", &Transport{Source: src, Scopes: graphScopes}, ContextWithScopes(context.Background(), "api://my-api/.default"), ErrNoAllowedHost, ""},
		{"allowed host matching everything", &Transport{Source: src, AllowedHosts: []string{"*"}}, nil, nil, "every host"},
		{"allowed host with a URL", &Transport{Source: src, AllowedHosts: []string{"https://example.com"}}, nil, nil, "a URL"},
		{"allowed host with a named port", &Transport{Source: src, AllowedHosts: []string{"example.com:https"}}, nil, nil, "port"},
		{"allowed host with port 0", &Transport{Source: src, AllowedHosts: []string{"127.0.0.1:0"}}, nil, nil, "port"},
		{"empty allowed host", &Transport{Source: src, AllowedHosts: []string{"example.com", ""}}, nil, nil, "empty"},
		{"inner wildcard", &Transport{Source: src, AllowedHosts: []string{"*.*.example.com"}}, nil, nil, "leading"},
		{"bad character", &Transport{Source: src, AllowedHosts: []string{"exa mple.com"}}, nil, nil, "character"},
		{"empty label", &Transport{Source: src, AllowedHosts: []string{"*..com"}}, nil, nil, "empty label"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := tt.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			body := &closeRecorder{Reader: strings.NewReader("x")}
			req, _ := http.NewRequestWithContext(ctx, "POST", "https://graph.microsoft.com/", body)
			// Even a request with its own Authorization is refused by a
			// misconfigured transport.
			req.Header.Set("Authorization", "Basic x")
			resp, err := tt.tr.RoundTrip(req)
			if resp != nil || err == nil {
				t.Fatalf("RoundTrip = %v, %v; want an error", resp, err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("error %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %q does not mention %q", err, tt.text)
			}
			if !body.closed {
				t.Error("request body not closed")
			}
		})
	}
	if n := len(src.requests()); n != 0 {
		t.Errorf("source asked %d times", n)
	}
}

func TestTransportTokenType(t *testing.T) {
	w := newWorld(t)
	rec := &recorder{}
	srv := w.tls(t, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rec.add(hit{auth: r.Header.Get("Authorization")})
	}))
	for _, typ := range []string{"", "Bearer", "bearer"} {
		rec.reset()
		get(t, graphTransport(w, &recordingSource{typ: typ}), srv.url("graph.microsoft.com", "/"))
		if got := rec.all(); len(got) != 1 || got[0].auth != "Bearer token-1" {
			t.Errorf("type %q: server saw %+v", typ, got)
		}
	}
	rec.reset()
	req, _ := http.NewRequest("GET", srv.url("graph.microsoft.com", "/"), nil)
	_, err := graphTransport(w, &recordingSource{typ: "pop"}).RoundTrip(req)
	if err == nil || !strings.Contains(err.Error(), "RequestAuthorizer") {
		t.Errorf("a pop token: error %v, want one naming RequestAuthorizer", err)
	}
	if len(rec.all()) != 0 {
		t.Error("a pop token was sent as a bearer token")
	}
}

func TestTransportHostFieldMustBeAllowedToo(t *testing.T) {
	w := newWorld(t)
	rec := &recorder{}
	srv := w.tls(t, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rec.add(hit{auth: r.Header.Get("Authorization"), path: r.Host})
	}))
	src := &recordingSource{}
	req, _ := http.NewRequest("GET", srv.url("graph.microsoft.com", "/"), nil)
	req.Host = "evil.example"
	resp, err := graphTransport(w, src).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := rec.all(); len(got) != 1 || got[0].auth != "" || got[0].path != "evil.example" {
		t.Errorf("server saw %+v, want no token", got)
	}
	if n := len(src.requests()); n != 0 {
		t.Errorf("source asked %d times", n)
	}
}

// dpopSource authorizes requests itself, as a DPoP source would.
type dpopSource struct{ recordingSource }

func (s *dpopSource) AuthorizeRequest(req *http.Request, tok Token, nonce string) error {
	req.Header.Set("Authorization", "DPoP "+tok.AccessToken)
	req.Header.Set("DPoP", "proof nonce="+nonce)
	return nil
}

func TestTransportRequestAuthorizer(t *testing.T) {
	w := newWorld(t)
	type step struct {
		status    int
		challenge string
		nonce     string
	}
	run := func(t *testing.T, src TokenSource, steps []step) ([]hit, *http.Response) {
		rec := &recorder{}
		srv := w.tls(t, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			n := rec.add(hit{auth: r.Header.Get("Authorization"), body: r.Header.Get("DPoP")})
			s := steps[min(n, len(steps))-1]
			if s.nonce != "" {
				rw.Header().Set("DPoP-Nonce", s.nonce)
			}
			if s.challenge != "" {
				rw.Header().Set("WWW-Authenticate", s.challenge)
			}
			rw.WriteHeader(s.status)
		}))
		req, _ := http.NewRequest("GET", srv.url("graph.microsoft.com", "/"), nil)
		resp, err := graphTransport(w, src).RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return rec.all(), resp
	}
	nonceCh := `DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"`
	dpopCAE := strings.Replace(claimsChallenge, "Bearer", "DPoP", 1)

	t.Run("nonce then claims", func(t *testing.T) {
		src := &dpopSource{}
		hits, resp := run(t, src, []step{{401, nonceCh, "n1"}, {401, dpopCAE, ""}, {200, "", ""}})
		want := []hit{{auth: "DPoP token-1", body: "proof nonce="}, {auth: "DPoP token-1", body: "proof nonce=n1"}, {auth: "DPoP token-2", body: "proof nonce=n1"}}
		if resp.StatusCode != 200 || !reflect.DeepEqual(hits, want) {
			t.Errorf("status %d, server saw %+v, want %+v", resp.StatusCode, hits, want)
		}
		if reqs := src.requests(); len(reqs) != 2 || reqs[1].Claims != caeClaims {
			t.Errorf("source saw %+v: want no token request for the nonce, one for the claims", reqs)
		}
	})
	t.Run("at most two resends", func(t *testing.T) {
		src := &dpopSource{}
		hits, resp := run(t, src, []step{{401, nonceCh, "n1"}, {401, dpopCAE, ""}, {401, `DPoP error="invalid_token"`, ""}, {200, "", ""}})
		if resp.StatusCode != 401 || len(hits) != 3 {
			t.Errorf("status %d after %d requests, want the third 401", resp.StatusCode, len(hits))
		}
	})
	t.Run("nonce without DPoP-Nonce header", func(t *testing.T) {
		hits, resp := run(t, &dpopSource{}, []step{{401, nonceCh, ""}, {200, "", ""}})
		if resp.StatusCode != 401 || len(hits) != 1 {
			t.Errorf("status %d after %d requests", resp.StatusCode, len(hits))
		}
	})
	t.Run("nonce ignored for a bearer source", func(t *testing.T) {
		hits, resp := run(t, &recordingSource{}, []step{{401, `Bearer error="use_dpop_nonce"`, "n1"}, {200, "", ""}})
		if resp.StatusCode != 401 || len(hits) != 1 {
			t.Errorf("status %d after %d requests", resp.StatusCode, len(hits))
		}
	})
	t.Run("a DPoP challenge does not count for a bearer token", func(t *testing.T) {
		src := &recordingSource{}
		hits, resp := run(t, src, []step{{401, `DPoP error="invalid_token"`, ""}, {200, "", ""}})
		if resp.StatusCode != 401 || len(hits) != 1 || len(src.requests()) != 1 {
			t.Errorf("status %d after %d requests", resp.StatusCode, len(hits))
		}
	})
}

// closeIdleCounter is a RoundTripper that counts CloseIdleConnections.
type closeIdleCounter struct {
	http.RoundTripper
	n int
}

func (c *closeIdleCounter) CloseIdleConnections() { c.n++ }

func TestTransportCloseIdleConnections(t *testing.T) {
	base := &closeIdleCounter{}
	tr := &Transport{Source: &recordingSource{}, Scopes: graphScopes, Base: base}
	tr.CloseIdleConnections()
	if base.n != 1 {
		t.Errorf("Base.CloseIdleConnections called %d times", base.n)
	}
	// A base without the method is fine.
	(&Transport{Base: roundTripFunc(nil)}).CloseIdleConnections()
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestTransportErrorsHoldNoToken provokes every error the transport can
// return once it holds a token, and checks none of them shows it.
func TestTransportErrorsHoldNoToken(t *testing.T) {
	const secret = "eyJ0eXAiOiJKV1QiLCJub25jZSI6IlNFQ1JFVCJ9.c2VjcmV0.c2ln"
	secretSource := func(typ string, fail error) TokenSource {
		return TokenSourceFunc(func(ctx context.Context, req TokenRequest) (Token, error) {
			if req.Challenge != nil || req.ForceRefresh {
				if fail != nil {
					return Token{}, fail
				}
			}
			return Token{AccessToken: secret, TokenType: typ}, nil
		})
	}
	challengeBase := func(ch string) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			h := http.Header{}
			h.Set("WWW-Authenticate", ch)
			return &http.Response{StatusCode: 401, Header: h, Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
		})
	}
	failingBase := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return nil, errors.New("connection refused")
	})
	tests := []struct {
		name string
		tr   *Transport
	}{
		{"source fails a claims challenge", &Transport{Source: secretSource("", errors.New("no")), Scopes: graphScopes, Base: challengeBase(claimsChallenge)}},
		{"source fails a step-up", &Transport{Source: secretSource("", ErrInteractionRequired), Scopes: graphScopes, Base: challengeBase(`Bearer error="insufficient_user_authentication"`)}},
		{"source fails a forced refresh", &Transport{Source: secretSource("", errors.New("no")), Scopes: graphScopes, Base: challengeBase(`Bearer error="invalid_token"`)}},
		{"token of another type", &Transport{Source: secretSource("PoP", nil), Scopes: graphScopes, Base: failingBase}},
		{"base fails", &Transport{Source: secretSource("", nil), Scopes: graphScopes, Base: failingBase}},
		{"insecure", &Transport{Source: secretSource("", nil), AllowedHosts: []string{"graph.microsoft.com"}, Base: failingBase}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := "https://graph.microsoft.com/v1.0/me"
			if tt.name == "insecure" {
				url = "http://graph.microsoft.com/v1.0/me"
			}
			_, err := (&http.Client{Transport: tt.tr}).Get(url)
			if err == nil {
				t.Fatal("no error")
			}
			for _, s := range []string{err.Error(), fmt.Sprintf("%v", err), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
				if strings.Contains(s, secret) || strings.Contains(s, "SECRET") {
					t.Fatalf("error shows the token: %s", s)
				}
			}
			var ce *ChallengeError
			if errors.As(err, &ce) {
				if s := fmt.Sprintf("%#v", *ce); strings.Contains(s, secret) {
					t.Fatalf("ChallengeError shows the token: %s", s)
				}
			}
		})
	}
}

func TestChallengeErrorMessage(t *testing.T) {
	e := &ChallengeError{
		StatusCode: 401,
		Challenge:  challenge.Challenge{Scheme: "Bearer", Params: map[string]string{"error": strings.Repeat("x", 1000)}},
		Err:        ErrInteractionRequired,
	}
	if msg := e.Error(); len(msg) > 300 || !strings.Contains(msg, "401") || !strings.Contains(msg, "user interaction required") {
		t.Errorf("message %q", msg)
	}
	if !errors.Is(e, ErrInteractionRequired) {
		t.Error("Unwrap does not reach Err")
	}
}
