package flow

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/bearerhttp/bearer/credential"
)

// These tests pose as an authority (one loopback server) that redirects
// to another origin (a second loopback server, "elsewhere", which would
// happily answer): nothing may reach elsewhere, and the call fails with
// ErrRedirect.

const redirectSecret = "redirect-test-s3cret"

// moved answers with a redirect to target.
func moved(status int, target func() string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", target())
		w.WriteHeader(status)
	}
}

// noneReached fails the test when elsewhere received a request.
func noneReached(t *testing.T, elsewhere *server) {
	t.Helper()
	if reqs := elsewhere.requests(); len(reqs) != 0 {
		t.Errorf("the redirect's target received %d request(s): %+v", len(reqs), reqs)
	}
}

func TestTokenRequestNotRedirected(t *testing.T) {
	userAssertion := "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"
	assertion := "client-assertion-eyJ0"
	tests := []struct {
		name    string
		cred    credential.Credential
		acquire func(*Confidential) (Result, error)
		secrets []string
	}{
		{"client_secret", credential.Secret(redirectSecret), func(app *Confidential) (Result, error) {
			return app.AcquireTokenForClient(bg(), []string{"api://x/.default"})
		}, []string{redirectSecret}},
		{"client_assertion", credential.Assertion(func(context.Context, credential.AssertionRequest) (string, error) { return assertion, nil }),
			func(app *Confidential) (Result, error) {
				return app.AcquireTokenForClient(bg(), []string{"api://x/.default"})
			}, []string{assertion}},
		{"on_behalf_of_assertion", credential.Secret(redirectSecret), func(app *Confidential) (Result, error) {
			return app.AcquireTokenOnBehalfOf(bg(), userAssertion, []string{"api://x/read"})
		}, []string{redirectSecret, userAssertion}},
	}
	for _, tt := range tests {
		for _, status := range []int{307, 308, 302} {
			for _, target := range []string{"another_origin", "same_origin"} {
				t.Run(fmt.Sprintf("%s/%d/%s", tt.name, status, target), func(t *testing.T) {
					elsewhere := newServer(t)
					elsewhere.handle("*", tokenHandler("stolen-token"))
					auth := newServer(t)
					auth.handle("/contoso.com/oauth2/v2.0/token", moved(status, func() string {
						if target == "same_origin" {
							return auth.URL + "/contoso.com/oauth2/v2.0/token2"
						}
						// What the authority got may come back in the URL.
						return elsewhere.URL + "/token/" + strings.Join(tt.secrets, "/") + "?s=" + strings.Join(tt.secrets, ",")
					}))
					auth.handle("/contoso.com/oauth2/v2.0/token2", tokenHandler("stolen-token"))
					auth.handle("/contoso.com/v2.0/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
						writeJSON(w, 200, metadataDoc(auth.URL+"/contoso.com", auth.URL+"/{tenantid}/v2.0"))
					})
					var lb logBuffer
					var sl sleeps
					app := mustConfidential(t, "cid", tt.cred, WithAuthority(auth.URL+"/contoso.com"),
						WithRetryPolicy(RetryPolicy{Sleep: sl.sleep}), WithLogger(lb.logger()), WithPII(true))
					for i := range 2 {
						r, err := tt.acquire(app)
						if err == nil {
							t.Fatalf("call %d: redirect followed: got %q", i, r.AccessToken)
						}
						if !errors.Is(err, ErrRedirect) {
							t.Fatalf("call %d: error = %v, want ErrRedirect", i, err)
						}
						noSecretIn(t, "error", err.Error()+fmt.Sprintf(" %+v %#v", err, err), tt.secrets...)
					}
					noneReached(t, elsewhere)
					if n := auth.count("/contoso.com/oauth2/v2.0/token2"); n != 0 {
						t.Errorf("the same-origin target received %d token request(s)", n)
					}
					// Not retried, nothing cached: each call asked once.
					if n := auth.count("/contoso.com/oauth2/v2.0/token"); n != 2 {
						t.Errorf("authority saw %d token requests for 2 calls, want 2", n)
					}
					noSecretIn(t, "log", lb.String(), tt.secrets...)
				})
			}
		}
	}
}

// TestDiscoveryNotRedirected: an OIDC authority's discovery document that
// redirects to another origin would let that origin name the token
// endpoint the secret goes to.
func TestDiscoveryNotRedirected(t *testing.T) {
	for _, status := range []int{301, 302, 307, 308} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			elsewhere := newServer(t)
			auth := newServer(t)
			elsewhere.handle("*", func(w http.ResponseWriter, r *http.Request) {
				// The issuer is the authority's, the endpoints elsewhere's.
				doc := metadataDoc(elsewhere.URL+"/realm", auth.URL+"/realm")
				writeJSON(w, 200, doc)
			})
			elsewhere.handle("/realm/oauth2/v2.0/token", tokenHandler("stolen-token"))
			auth.handle("/realm/.well-known/openid-configuration", moved(status, func() string {
				return elsewhere.URL + "/realm/.well-known/openid-configuration"
			}))
			app := mustConfidential(t, "cid", credential.Secret(redirectSecret), WithOIDCAuthority(auth.URL+"/realm"))
			_, err := app.AcquireTokenForClient(bg(), []string{"api://x/.default"})
			if !errors.Is(err, ErrDiscovery) || !errors.Is(err, ErrRedirect) {
				t.Fatalf("error = %v, want ErrDiscovery and ErrRedirect", err)
			}
			noneReached(t, elsewhere)
		})
	}
}

// TestInstanceDiscoveryNotRedirected: instance discovery names the
// tenant's discovery document, so a redirect would let another origin
// choose the endpoints.
func TestInstanceDiscoveryNotRedirected(t *testing.T) {
	elsewhere := newServer(t)
	elsewhere.handle("/common/discovery/instance", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, fmt.Sprintf(`{"tenant_discovery_endpoint":"%s/t1/v2.0/.well-known/openid-configuration","metadata":[]}`, elsewhere.URL))
	})
	elsewhere.handle("*", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, metadataDoc(elsewhere.URL+"/t1", elsewhere.URL+"/{tenantid}/v2.0"))
	})
	auth := newServer(t)
	auth.handle("/common/discovery/instance", moved(http.StatusFound, func() string {
		return elsewhere.URL + "/common/discovery/instance"
	}))
	c := mustCore(t, "cid", WithAuthority(auth.URL+"/t1"), WithInstanceDiscoveryEndpoint(auth.URL))
	_, err := c.endpointsFor(bg(), callConfig{})
	if !errors.Is(err, ErrDiscovery) || !errors.Is(err, ErrRedirect) {
		t.Fatalf("error = %v, want ErrDiscovery and ErrRedirect", err)
	}
	noneReached(t, elsewhere)
}

// TestRegionDetectionNotRedirected: the instance metadata service is
// plain http; a redirect (to anywhere) is not followed and the region is
// not detected.
func TestRegionDetectionNotRedirected(t *testing.T) {
	elsewhere := imds(t, 200, "eastus")
	s := newServer(t)
	s.handle(imdsPath, moved(http.StatusTemporaryRedirect, func() string {
		return elsewhere.URL + imdsLocationPath
	}))
	var lb logBuffer
	c := mustCore(t, "cid", WithRegion(AutoDetectRegion), WithRegionEndpoint(s.URL),
		env(map[string]string{}), WithLogger(lb.logger()))
	if got := c.regions.forAuthority(bg(), entraTenant); got != "" {
		t.Errorf("region = %q, want none (global endpoint)", got)
	}
	noneReached(t, elsewhere)
	if s.count(imdsPath) != 1 {
		t.Errorf("IMDS asked %d times, want 1", s.count(imdsPath))
	}
	if !strings.Contains(lb.String(), "redirect") {
		t.Errorf("the log does not say the redirect was refused:\n%s", lb.String())
	}
}

// TestKeysNotRedirected: a web API reading its authority's signing keys
// does not follow a redirect to another origin, which could publish a
// key of its own and make the API accept tokens it signed.
func TestKeysNotRedirected(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := jwk.FromRaw(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	pub.Set(jwk.KeyIDKey, "attacker-key")
	pub.Set(jwk.AlgorithmKey, jwa.RS256)
	set := jwk.NewSet()
	set.AddKey(pub)
	setJSON, _ := json.Marshal(set)

	elsewhere := newServer(t)
	elsewhere.handle("*", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, string(setJSON)) })
	auth := newServer(t)
	auth.handle("/realm/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, metadataDoc(auth.URL+"/realm", auth.URL+"/realm"))
	})
	auth.handle("/realm/discovery/v2.0/keys", moved(http.StatusFound, func() string { return elsewhere.URL + "/keys" }))

	clk := newClock()
	app := mustConfidential(t, "api-id", credential.Secret(redirectSecret), WithOIDCAuthority(auth.URL+"/realm"), WithClock(clk.Now))
	claims, _ := json.Marshal(map[string]any{
		"iss": auth.URL + "/realm", "aud": "api-id", "sub": "mallory",
		"iat": testNow.Unix(), "nbf": testNow.Unix(), "exp": testNow.Unix() + 3600,
	})
	hdr := jws.NewHeaders()
	hdr.Set(jws.KeyIDKey, "attacker-key")
	signed, err := jws.Sign(claims, jws.WithKey(jwa.RS256, key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		t.Fatal(err)
	}
	var reached bool
	h := app.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached = true }))
	r := httptest.NewRequest(http.MethodGet, "https://api.contoso.example/orders", nil)
	r.Header.Set("Authorization", "Bearer "+string(signed))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if reached || w.Code == http.StatusOK {
		t.Errorf("a token signed by the redirect target's key was accepted (status %d)", w.Code)
	}
	if w.Code != http.StatusServiceUnavailable {
		t.Errorf("status = %d, want 503 (the keys could not be read)", w.Code)
	}
	noneReached(t, elsewhere)
}

// noSecretIn fails when text contains any of secrets, or their
// base64 forms.
func noSecretIn(t *testing.T, what, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s == "" {
			continue
		}
		for _, form := range []string{s, base64.StdEncoding.EncodeToString([]byte(s))} {
			if strings.Contains(text, form) {
				t.Errorf("%s contains the secret %q:\n%s", what, form, text)
			}
		}
	}
}

// TestManagedIdentityNotRedirected: a managed identity source (plain http
// on the machine) that answers with a redirect, to another origin or to
// its own, is not followed: the call fails with ErrRedirect, is not
// retried, nothing reaches the redirect's target, and neither the
// identity header nor the redirect's path shows in the error or the log.
func TestManagedIdentityNotRedirected(t *testing.T) {
	const identityHeader = "identity-HEADER-s3cret"
	sources := []struct {
		name string
		env  func(base string) map[string]string
		kind ManagedIdentitySource
	}{
		{"imds", func(base string) map[string]string {
			return map[string]string{"AZURE_POD_IDENTITY_AUTHORITY_HOST": base}
		}, SourceIMDS},
		{"app_service", func(base string) map[string]string {
			return map[string]string{"IDENTITY_ENDPOINT": base + "/msi/token", "IDENTITY_HEADER": identityHeader}
		}, SourceAppService},
		{"cloud_shell", func(base string) map[string]string { return map[string]string{"MSI_ENDPOINT": base + "/msi/token"} }, SourceCloudShell},
	}
	for _, src := range sources {
		for _, status := range []int{302, 307} {
			for _, target := range []string{"another_origin", "same_origin"} {
				t.Run(fmt.Sprintf("%s/%d/%s", src.name, status, target), func(t *testing.T) {
					elsewhere := newServer(t)
					elsewhere.handle("*", tokenHandler("stolen-token"))
					mi := newServer(t)
					mi.handle("/moved/"+identityHeader, tokenHandler("stolen-token"))
					mi.handle("*", moved(status, func() string {
						if target == "same_origin" {
							return mi.URL + "/moved/" + identityHeader
						}
						return elsewhere.URL + "/token/" + identityHeader
					}))
					var lb logBuffer
					var sl sleeps
					m := mustMI(t, WithGetenv(envOf(src.env(mi.URL))), withArcKeyDir(t.TempDir()),
						withHimdsPath(filepath.Join(t.TempDir(), "no-himds")), WithRetryPolicy(RetryPolicy{Sleep: sl.sleep}),
						WithLogger(lb.logger()), WithPII(true))
					if m.Kind() != src.kind {
						t.Fatalf("detected %s, want %s", m.Kind(), src.kind)
					}
					r, err := m.AcquireToken(bg(), graphAud)
					if err == nil {
						t.Fatalf("redirect followed: got %q", r.AccessToken)
					}
					if !errors.Is(err, ErrRedirect) {
						t.Fatalf("error = %v, want ErrRedirect", err)
					}
					noSecretIn(t, "error", err.Error()+fmt.Sprintf(" %+v %#v", err, err), identityHeader)
					noSecretIn(t, "log", lb.String(), identityHeader)
					noneReached(t, elsewhere)
					if n := mi.count("/moved/" + identityHeader); n != 0 {
						t.Errorf("the same-origin target received %d request(s)", n)
					}
					if n := len(mi.requests()); n != 1 {
						t.Errorf("the source saw %d requests, want 1 (no retry)", n)
					}
				})
			}
		}
	}
}
