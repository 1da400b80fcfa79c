package bearer

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// These tests put golang.org/x/oauth2's Transport beside this package's
// on the same servers, where the design says bearer does better.

func oauth2Transport(w *world) *oauth2.Transport {
	return &oauth2.Transport{
		Source: oauth2.ReuseTokenSource(nil, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "token-1", Expiry: time.Now().Add(time.Hour)})),
		Base:   w.base,
	}
}

// TestCompareRedirectToForeignHost: x/oauth2 sends its token to the host
// a resource redirects to; bearer does not.
func TestCompareRedirectToForeignHost(t *testing.T) {
	w := newWorld(t)
	landed := &recorder{}
	foreign := w.tls(t, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		landed.add(hit{auth: r.Header.Get("Authorization")})
	}))
	home := w.tls(t, http.RedirectHandler(foreign.url("example.com", "/collect"), http.StatusFound))

	for _, tc := range []struct {
		name string
		rt   http.RoundTripper
		want string
	}{
		{"x/oauth2 leaks the token", oauth2Transport(w), "Bearer token-1"},
		{"bearer does not", graphTransport(w, &recordingSource{}), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			landed.reset()
			if status, _ := get(t, tc.rt, home.url("graph.microsoft.com", "/")); status != 200 {
				t.Fatalf("status %d", status)
			}
			if got := landed.all(); len(got) != 1 || got[0].auth != tc.want {
				t.Errorf("foreign host saw %+v, want Authorization %q", got, tc.want)
			}
		})
	}
}

// TestCompareClaimsChallenge: x/oauth2 hands the caller the 401 of a
// claims challenge; bearer gets a token with the claims and resends the
// request with its body.
func TestCompareClaimsChallenge(t *testing.T) {
	w := newWorld(t)
	post := func(t *testing.T, rt http.RoundTripper, url string) int {
		t.Helper()
		resp, err := (&http.Client{Transport: rt}).Post(url, "application/json", strings.NewReader(`{"subject":"hi"}`))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	t.Run("x/oauth2 returns the 401", func(t *testing.T) {
		rec := &recorder{}
		srv := w.tls(t, challengeFirst(rec, claimsChallenge, 10))
		if status := post(t, oauth2Transport(w), srv.url("graph.microsoft.com", "/")); status != http.StatusUnauthorized {
			t.Errorf("status %d", status)
		}
		if n := len(rec.all()); n != 1 {
			t.Errorf("server saw %d requests", n)
		}
	})
	t.Run("bearer recovers with the body", func(t *testing.T) {
		rec := &recorder{}
		srv := w.tls(t, challengeFirst(rec, claimsChallenge, 10))
		src := &recordingSource{}
		if status := post(t, graphTransport(w, src), srv.url("graph.microsoft.com", "/")); status != 200 {
			t.Errorf("status %d", status)
		}
		got := rec.all()
		if len(got) != 2 || got[1].body != `{"subject":"hi"}` || got[1].auth != "Bearer token-2" {
			t.Errorf("server saw %+v", got)
		}
		if reqs := src.requests(); len(reqs) != 2 || reqs[1].Claims != caeClaims {
			t.Errorf("source saw %+v", reqs)
		}
	})
}
