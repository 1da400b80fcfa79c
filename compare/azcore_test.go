package compare

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/bearerhttp/bearer"
)

// tokens is the token source both sides use: it hands out "plain-N" when
// asked without claims and "claims-N" when asked with claims, and
// records the claims of every request.
type tokens struct {
	mu     sync.Mutex
	claims []string
}

func (s *tokens) get(claims string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.claims = append(s.claims, claims)
	if claims != "" {
		return "claims-" + strconv.Itoa(len(s.claims))
	}
	return "plain-" + strconv.Itoa(len(s.claims))
}

// asked returns the claims of each token request so far ("" for none).
func (s *tokens) asked() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.claims...)
}

// azcoreCredential is an azcore.TokenCredential over tokens.
type azcoreCredential struct{ src *tokens }

// GetToken implements azcore.TokenCredential.
func (c azcoreCredential) GetToken(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: c.src.get(o.Claims), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// bearerSource is a bearer.TokenSource over tokens.
func bearerSource(src *tokens) bearer.TokenSource {
	return bearer.TokenSourceFunc(func(_ context.Context, r bearer.TokenRequest) (bearer.Token, error) {
		return bearer.Token{AccessToken: src.get(r.Claims), TokenType: "Bearer", ExpiresOn: time.Now().Add(time.Hour)}, nil
	})
}

// azcorePipeline is an azcore pipeline with runtime.NewBearerTokenPolicy
// for scopes, sending through an http.Client over w's transport (net/http
// follows redirects), without retries.
func azcorePipeline(w *world, src *tokens, scopes []string) runtime.Pipeline {
	return runtime.NewPipeline("compare", "v0.0.0",
		runtime.PipelineOptions{PerRetry: []policy.Policy{runtime.NewBearerTokenPolicy(azcoreCredential{src}, scopes, nil)}},
		&policy.ClientOptions{Transport: &http.Client{Transport: w.base}, Retry: policy.RetryOptions{MaxRetries: -1}})
}

// bearerClient is an http.Client with bearer.Transport for scopes over w's
// transport.
func bearerClient(w *world, src *tokens, scopes []string) *http.Client {
	return &http.Client{Transport: &bearer.Transport{Source: bearerSource(src), Scopes: scopes, Base: w.base}}
}

// outcome is what a caller got back: a status, or an error.
type outcome struct {
	status int
	err    error
}

func (o outcome) String() string {
	if o.err != nil {
		return "error: " + o.err.Error()
	}
	return http.StatusText(o.status)
}

// azcoreDo sends method url with body (none when empty) through pl.
func azcoreDo(t *testing.T, pl runtime.Pipeline, method, url, body string) outcome {
	t.Helper()
	req, err := runtime.NewRequest(context.Background(), method, url)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		if err := req.SetBody(streaming.NopCloser(strings.NewReader(body)), "application/json"); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := pl.Do(req)
	if err != nil {
		return outcome{err: err}
	}
	resp.Body.Close()
	return outcome{status: resp.StatusCode}
}

// bearerDo sends method url with body (none when empty) through c.
func bearerDo(t *testing.T, c *http.Client, method, url, body string) outcome {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return outcome{err: err}
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return outcome{status: resp.StatusCode}
}

// caeClaims are the claims of the challenges below, as Entra's CAE
// sends them (an nbf the new token must satisfy).
const caeClaims = `{"access_token":{"nbf":{"essential":true,"value":"1726077595"}}}`

// challengeResource answers 401 with the challenge header to every token
// not got with claims, and 200 to the others; rec keeps what it received.
func challengeResource(header string, rec *recorder) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := rec.record(r)
		if !strings.HasPrefix(h.auth, "Bearer claims-") {
			w.Header().Set("WWW-Authenticate", header)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
}

// TestCompareClaimsChallenge: a resource answers a POST with a CAE claims
// challenge (401 insufficient_claims) written in one of several forms.
// Where a side recovers, it gets a token asked for with the challenge's
// claims and sends the request again with its body; where it does not,
// the caller gets the 401 (or an error).
func TestCompareClaimsChallenge(t *testing.T) {
	std := base64.StdEncoding.EncodeToString([]byte(caeClaims))
	raw := base64.RawURLEncoding.EncodeToString([]byte(caeClaims))
	if std == raw {
		t.Fatal("the claims must encode differently in the two alphabets for the unpadded case to mean anything")
	}
	const body = `{"subject":"hello","body":"a message that must arrive twice"}`
	tests := []struct {
		name   string
		header string
		// azcore and bearer say whether each side recovers.
		azcore, bearer bool
	}{
		{"quoted, as Entra documents it", `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", error="insufficient_claims", claims="` + std + `"`, true, true},
		{"unquoted authorization_uri", `Bearer realm="", authorization_uri=https://login.microsoftonline.com/common/oauth2/authorize, error="insufficient_claims", claims="` + std + `"`, false, true},
		{"unquoted error and claims", `Bearer error=insufficient_claims, claims=` + std, false, true},
		{"lower-case scheme", `bearer error="insufficient_claims", claims="` + std + `"`, false, true},
		{"claims in base64url without padding", `Bearer error="insufficient_claims", claims="` + raw + `"`, false, true},
	}
	scopes := []string{"https://graph.microsoft.com/.default"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, side := range []struct {
				name    string
				recover bool
				do      func(w *world, src *tokens, url string) outcome
			}{
				{"azcore", tt.azcore, func(w *world, src *tokens, url string) outcome {
					return azcoreDo(t, azcorePipeline(w, src, scopes), http.MethodPost, url, body)
				}},
				{"bearer", tt.bearer, func(w *world, src *tokens, url string) outcome {
					return bearerDo(t, bearerClient(w, src, scopes), http.MethodPost, url, body)
				}},
			} {
				t.Run(side.name, func(t *testing.T) {
					w := newWorld(t)
					rec := &recorder{}
					res := w.tls(t, challengeResource(tt.header, rec))
					src := &tokens{}
					got := side.do(w, src, res.url("graph.microsoft.com", "/v1.0/me/sendMail"))
					hits, asked := rec.all(), src.asked()
					if side.recover {
						if got.status != http.StatusOK {
							t.Fatalf("got %v, want OK after recovering", got)
						}
						if len(asked) != 2 || asked[0] != "" || asked[1] != caeClaims {
							t.Errorf("token requests with claims %q, want [\"\" %q]", asked, caeClaims)
						}
						if len(hits) != 2 || hits[0].body != body || hits[1].body != body {
							t.Errorf("resource received %+v, want the body twice", hits)
						}
						return
					}
					if got.status != http.StatusUnauthorized && got.err == nil {
						t.Fatalf("got %v, want the 401 or an error", got)
					}
					if len(hits) != 1 {
						t.Errorf("resource received %d requests, want 1", len(hits))
					}
					for _, c := range asked {
						if c != "" {
							t.Errorf("a token was asked for with claims %q, want none", c)
						}
					}
					t.Logf("%s gave the caller %v", side.name, got)
				})
			}
		})
	}
}
