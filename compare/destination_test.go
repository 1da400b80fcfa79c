package compare

import (
	"errors"
	"net/http"
	"testing"

	"github.com/bearerhttp/bearer"
)

// TestCompareTokenDestination: where does the token go when a request
// for https://graph.microsoft.com (scope https://graph.microsoft.com/.default)
// leads elsewhere? azcore sets the Authorization header on the request
// and lets net/http follow redirects, so net/http's rule decides: the
// header is dropped for a host that is neither the same nor a subdomain,
// and kept for the same host name on another port or scheme, plain HTTP
// included. bearer decides for each request it sends, redirects included:
// only allowed hosts, only over HTTPS.
func TestCompareTokenDestination(t *testing.T) {
	scopes := []string{"https://graph.microsoft.com/.default"}
	type want struct {
		// landed is the Authorization header the landing server saw;
		// noRequest means it received no request at all.
		landed    string
		noRequest bool
		// insecure means the caller gets an error wrapping
		// bearer.ErrInsecure.
		insecure bool
	}
	tests := []struct {
		name string
		// start returns the URL asked for; landing requests end at land.
		start          func(w *world, land *server) string
		plainLanding   bool
		azcore, bearer want
	}{
		{
			name: "redirect to another host",
			start: func(w *world, land *server) string {
				home := w.tls(t, http.RedirectHandler(land.url("example.com", "/collect"), http.StatusFound))
				return home.url("graph.microsoft.com", "/v1.0/me")
			},
			azcore: want{landed: ""},
			bearer: want{landed: ""},
		},
		{
			name: "redirect to the same host over plain http",
			start: func(w *world, land *server) string {
				home := w.tls(t, http.RedirectHandler(land.url("graph.microsoft.com", "/collect"), http.StatusFound))
				return home.url("graph.microsoft.com", "/v1.0/me")
			},
			plainLanding: true,
			azcore:       want{landed: "Bearer plain-1"},
			bearer:       want{noRequest: true, insecure: true},
		},
		{
			name: "a link to another host (a next page, a polling URL)",
			start: func(w *world, land *server) string {
				return land.url("example.com", "/v1.0/me?$skiptoken=2")
			},
			azcore: want{landed: "Bearer plain-1"},
			bearer: want{landed: ""},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, side := range []struct {
				name string
				want want
				do   func(w *world, src *tokens, url string) outcome
			}{
				{"azcore", tt.azcore, func(w *world, src *tokens, url string) outcome {
					return azcoreDo(t, azcorePipeline(w, src, scopes), http.MethodGet, url, "")
				}},
				{"bearer", tt.bearer, func(w *world, src *tokens, url string) outcome {
					return bearerDo(t, bearerClient(w, src, scopes), http.MethodGet, url, "")
				}},
			} {
				t.Run(side.name, func(t *testing.T) {
					w := newWorld(t)
					rec := &recorder{}
					collect := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { rec.record(r) })
					land := w.tls(t, collect)
					if tt.plainLanding {
						land = w.plain(t, collect)
					}
					got := side.do(w, &tokens{}, tt.start(w, land))
					hits := rec.all()
					switch {
					case side.want.insecure:
						if !errors.Is(got.err, bearer.ErrInsecure) {
							t.Errorf("got %v, want an error wrapping bearer.ErrInsecure", got)
						}
					case got.err != nil || got.status != http.StatusOK:
						t.Errorf("got %v, want OK", got)
					}
					if side.want.noRequest {
						if len(hits) != 0 {
							t.Errorf("landing server received %+v, want no request", hits)
						}
						return
					}
					if len(hits) != 1 || hits[0].auth != side.want.landed {
						t.Errorf("landing server received %+v, want one request with Authorization %q", hits, side.want.landed)
					}
				})
			}
		})
	}
}
