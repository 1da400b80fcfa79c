package compare

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/bearerhttp/bearer"
	"github.com/bearerhttp/bearer/authtest"
	"github.com/bearerhttp/bearer/flow"
	"golang.org/x/oauth2"
)

// P1 of BENCHMARKS.md: the cost of a cached token on every request, as a
// user pays it, beside the floor and the anchors. Each contender sends
// the same GET to https://graph.microsoft.com with a token it already
// holds:
//
//   - floor: req.Clone, one header set to a value computed beforehand,
//     Base.RoundTrip; the least an authenticating RoundTripper can do;
//   - oauth2: golang.org/x/oauth2's Transport over ReuseTokenSource;
//   - azcore: an azcore pipeline (its default policies) with
//     runtime.NewBearerTokenPolicy, a request made per call by
//     runtime.NewRequest, as azcore's clients make them;
//   - ClientSource: bearer.Transport{Source: app.ClientSource()}, the
//     app's token cached by flow;
//   - OnBehalfOfSource: bearer.Transport{Source: app.OnBehalfOfSource()},
//     the caller's assertion in the request's context.
//
// The base is either a no-op RoundTripper answering a canned 200 (the
// library's own cost) or a real loopback HTTPS GET to an httptest server
// on a kept-alive connection (where the network dominates).

// hotScope is the scope every P1 contender asks for: on-behalf-of needs a
// delegated scope, and an https scope names the host the token may go to.
var hotScope = []string{"https://graph.microsoft.com/User.Read"}

// hotURL is the resource P1 requests (its port is added for loopback).
const hotPath = "/v1.0/me/messages?$top=10&$select=subject"

// nopBase answers every request with a canned 200 and an empty body. It
// is both an http.RoundTripper and an azcore policy.Transporter.
type nopBase struct{}

func (nopBase) RoundTrip(*http.Request) (*http.Response, error) { return nopResponse(), nil }

func (nopBase) Do(*http.Request) (*http.Response, error) { return nopResponse(), nil }

var emptyBody = io.NopCloser(strings.NewReader(""))

func nopResponse() *http.Response {
	return &http.Response{StatusCode: http.StatusOK, Body: emptyBody, Header: http.Header{}}
}

// staticCredential is an azcore.TokenCredential handing out one token;
// BearerTokenPolicy caches it until its expiry nears.
type staticCredential struct{ token string }

// GetToken implements azcore.TokenCredential.
func (c staticCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: c.token, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// hotContender sends one request and returns the response (its body not
// yet read).
type hotContender struct {
	name string
	send func(*http.Request) (*http.Response, error)
	// token is the access token the contender puts on the request.
	token string
}

// hotSetup is the P1 world: the authority both bearer sources got their
// token from, and a request to send.
type hotSetup struct {
	srv        *authtest.Server
	req        *http.Request // carries the caller's assertion in its context
	contenders []hotContender
}

// newHotSetup builds every contender over base, for requests to url.
// bearer's apps have each fetched their token once already (one token
// request each); the anchors hold a token of the same length.
func newHotSetup(tb testing.TB, base http.RoundTripper, transporter policy.Transporter, url string) *hotSetup {
	tb.Helper()
	srv := newOBOAuthority(tb)
	authority := srv.Authority(authtest.DefaultTenant)
	app := newBearer(tb, authority, srv.Client())
	assertion := assertions(srv, 1)[0]
	ctx := flow.ContextWithUserAssertion(context.Background(), assertion)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")

	appTok, err := app.ClientSource().Token(ctx, bearer.TokenRequest{Scopes: graphScopes})
	if err != nil {
		tb.Fatal(err)
	}
	oboTok, err := app.OnBehalfOfSource().Token(ctx, bearer.TokenRequest{Scopes: hotScope})
	if err != nil {
		tb.Fatal(err)
	}
	// The anchors' token: the same size as the app token bearer sends.
	anchorTok := appTok.AccessToken

	header := "Bearer " + anchorTok
	ot := &oauth2.Transport{
		Source: oauth2.ReuseTokenSource(nil, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: anchorTok, TokenType: "Bearer", Expiry: time.Now().Add(time.Hour)})),
		Base:   base,
	}
	pl := runtime.NewPipeline("compare", "v0.0.0",
		runtime.PipelineOptions{PerRetry: []policy.Policy{runtime.NewBearerTokenPolicy(staticCredential{anchorTok}, hotScope, nil)}},
		&policy.ClientOptions{Transport: transporter, Retry: policy.RetryOptions{MaxRetries: -1}})
	client := &bearer.Transport{Source: app.ClientSource(), Scopes: graphScopes, Base: base}
	obo := &bearer.Transport{Source: app.OnBehalfOfSource(), Scopes: hotScope, Base: base}

	return &hotSetup{srv: srv, req: req, contenders: []hotContender{
		{name: "floor", token: anchorTok, send: func(r *http.Request) (*http.Response, error) {
			r2 := r.Clone(r.Context())
			r2.Header.Set("Authorization", header)
			return base.RoundTrip(r2)
		}},
		{name: "oauth2", token: anchorTok, send: ot.RoundTrip},
		{name: "azcore", token: anchorTok, send: func(r *http.Request) (*http.Response, error) {
			// A new azcore request per call, as azcore's clients make
			// them: runtime.NewRequestFromRequest would share r's header
			// map, and the pipeline's telemetry policy appends to its
			// User-Agent on every call.
			areq, err := runtime.NewRequest(r.Context(), r.Method, url)
			if err != nil {
				return nil, err
			}
			areq.Raw().Header.Set("Accept", "application/json")
			return pl.Do(areq)
		}},
		{name: "ClientSource", token: appTok.AccessToken, send: client.RoundTrip},
		{name: "OnBehalfOfSource", token: oboTok.AccessToken, send: obo.RoundTrip},
	}}
}

// hotResource is the loopback resource: it answers 200 with a small JSON
// body and the Authorization header it got, for the test to check.
func hotResource() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Got-Authorization", r.Header.Get("Authorization"))
		io.WriteString(w, `{"value":[]}`)
	})
}

// TestCompareHotPathSendsTheToken checks what BenchmarkCompareHotPath
// measures: over a real loopback GET, each contender sends its token and
// gets the 200, and bearer's sources serve from their caches (no token
// request after the first of each).
func TestCompareHotPathSendsTheToken(t *testing.T) {
	w := newWorld(t)
	res := w.tls(t, hotResource())
	hs := newHotSetup(t, w.base, &http.Client{Transport: w.base}, res.url("graph.microsoft.com", hotPath))
	before := hs.srv.TokenRequests()
	for _, c := range hs.contenders {
		t.Run(c.name, func(t *testing.T) {
			for range 3 {
				resp, err := c.send(hs.req)
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("status %d", resp.StatusCode)
				}
				if got, want := resp.Header.Get("X-Got-Authorization"), "Bearer "+c.token; got != want {
					t.Fatalf("the resource got Authorization %q, want %q", got, want)
				}
			}
		})
	}
	if len(hs.req.Header) != 1 {
		t.Errorf("a contender changed the caller's request: header %v", hs.req.Header)
	}
	if n := hs.srv.TokenRequests() - before; n != 0 {
		t.Errorf("%d token requests while sending, want 0 (every token cached)", n)
	}
}

// BenchmarkCompareHotPath is P1: one request with a cached token per
// operation, for each contender, over a no-op base ("nop") and over a
// real loopback HTTPS GET ("loopback", the body read and closed).
func BenchmarkCompareHotPath(b *testing.B) {
	b.Run("base=nop", func(b *testing.B) {
		hs := newHotSetup(b, nopBase{}, nopBase{}, "https://graph.microsoft.com"+hotPath)
		for _, c := range hs.contenders {
			b.Run(c.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					resp, err := c.send(hs.req)
					if err != nil {
						b.Fatal(err)
					}
					resp.Body.Close()
				}
			})
		}
	})
	b.Run("base=loopback", func(b *testing.B) {
		w := newWorld(b)
		res := w.tls(b, hotResource())
		hs := newHotSetup(b, w.base, &http.Client{Transport: w.base}, res.url("graph.microsoft.com", hotPath))
		for _, c := range hs.contenders {
			b.Run(c.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					resp, err := c.send(hs.req)
					if err != nil {
						b.Fatal(err)
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
		}
	})
}
