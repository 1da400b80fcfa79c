package flow

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/bearerhttp/bearer/authtest"
	"github.com/bearerhttp/bearer/cache"
	"github.com/bearerhttp/bearer/credential"
)

// The user-flow fixtures: a web app (confidential), a public client, and
// users of contoso.
const (
	webID       = "44444444-aaaa-4bbb-8ccc-000000000004"
	webSecret   = "web-app-s3cret-VALUE"
	webRedirect = "https://app.example/callback"
	pubID       = "55555555-aaaa-4bbb-8ccc-000000000005"
	pubRedirect = "http://localhost/cb"
	contosoID   = "6f7e3a2b-1c4d-4e5f-8a9b-0c1d2e3f4a5b"
	aliceUser   = "alice@contoso.com"
	alicePass   = "alice-PASSWORD-456"
	bobUser     = "bob@contoso.com" // must do MFA
	bobPass     = "bob-PASSWORD-789"
)

// userServer is an authtest server (TLS, posing as Entra, on a stopped
// clock at t0) with the user-flow fixtures.
func userServer(t *testing.T) *authtest.Server {
	t.Helper()
	srv := authtest.NewTLSServer(t)
	srv.SetNow(t0)
	srv.AddClient(authtest.Client{ID: webID, Secret: webSecret, RedirectURIs: []string{webRedirect}})
	srv.AddClient(authtest.Client{ID: pubID, Public: true, RedirectURIs: []string{pubRedirect}})
	srv.AddUser(authtest.User{Username: aliceUser, Password: alicePass, TenantID: contosoID, Tenants: []string{srv.TenantID("fabrikam.com")}})
	srv.AddUser(authtest.User{Username: bobUser, Password: bobPass, TenantID: contosoID, MFA: true})
	return srv
}

// appOpts are the options that point an application at srv, on its clock.
func appOpts(srv *authtest.Server, tenant string, more ...Option) []Option {
	return append([]Option{WithAuthority(srv.Authority(tenant)), WithHTTPClient(srv.Client()), WithClock(srv.Now)}, more...)
}

// webApp is the confidential web app of srv.
func webApp(t testing.TB, srv *authtest.Server, tenant string, more ...Option) *Confidential {
	t.Helper()
	return mustConfidential(t, webID, credential.Secret(webSecret), appOpts(srv, tenant, more...)...)
}

// publicApp is the public client of srv.
func publicApp(t testing.TB, srv *authtest.Server, tenant string, more ...Option) *Public {
	t.Helper()
	return mustPublic(t, pubID, appOpts(srv, tenant, more...)...)
}

func mustPublic(t testing.TB, clientID string, opts ...Option) *Public {
	t.Helper()
	p, err := NewPublic(clientID, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// signer is what both kinds of application offer for signing in.
type signer interface {
	InitiateAuthCodeFlow(ctx context.Context, scopes []string, redirectURI string, opts ...CallOption) (AuthCodeFlow, error)
	AcquireTokenByAuthCodeFlow(ctx context.Context, f AuthCodeFlow, response url.Values, opts ...CallOption) (Result, error)
	AcquireTokenSilent(ctx context.Context, scopes []string, account Account, opts ...CallOption) (Result, error)
	Accounts(ctx context.Context, username string) ([]Account, error)
}

var (
	_ signer = (*Confidential)(nil)
	_ signer = (*Public)(nil)
)

// browse plays the user's browser at authURI: it follows the
// authority's answer to the redirect URI (a redirect, or a form_post
// page) and returns the authorization response's parameters, without
// calling the redirect URI.
func browse(t *testing.T, srv *authtest.Server, authURI string) url.Values {
	t.Helper()
	q, err := browseErr(srv, authURI)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// browseErr is browse for goroutines other than the test's.
func browseErr(srv *authtest.Server, authURI string) (url.Values, error) {
	c := srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Get(authURI)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	switch {
	case resp.StatusCode == http.StatusFound:
		u, err := url.Parse(resp.Header.Get("Location"))
		if err != nil {
			return nil, err
		}
		if u.Fragment != "" {
			return url.ParseQuery(u.Fragment)
		}
		return u.Query(), nil
	case resp.StatusCode == http.StatusOK && strings.Contains(string(body), `name="hiddenform"`):
		q := url.Values{}
		for _, m := range hiddenInput.FindAllStringSubmatch(string(body), -1) {
			q.Add(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
		}
		return q, nil
	}
	return nil, fmt.Errorf("the authority answered %d, not a response to the redirect URI: %.300s", resp.StatusCode, body)
}

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)

// userSignIn runs a whole sign-in of username through app's auth code flow.
func userSignIn(t *testing.T, srv *authtest.Server, app signer, redirect, username string, scopes []string, opts ...CallOption) Result {
	t.Helper()
	f, err := app.InitiateAuthCodeFlow(bg(), scopes, redirect, append([]CallOption{LoginHint(username)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	r, err := app.AcquireTokenByAuthCodeFlow(bg(), f, browse(t, srv, f.AuthURI))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// secretsIn returns the secrets of list that s shows.
func secretsIn(s string, list ...string) []string {
	var out []string
	for _, v := range list {
		if len(v) >= 8 && strings.Contains(s, v) {
			out = append(out, v)
		}
	}
	return out
}

// asError returns err's *Error, failing the test when it has none.
func asError(t *testing.T, err error) *Error {
	t.Helper()
	var fe *Error
	if !errors.As(err, &fe) {
		t.Fatalf("error %v (%T) has no *flow.Error", err, err)
	}
	return fe
}

// idTokenCheckOf returns the check an *IDTokenError in err names.
func idTokenCheckOf(err error) string {
	var ie *IDTokenError
	if errors.As(err, &ie) {
		return ie.Check
	}
	return ""
}

// cachedRefreshToken returns the refresh token c caches for home.
func cachedRefreshToken(c *cache.Cache, clientID, env, home string) string {
	rt, _ := c.RefreshToken(bg(), cache.RefreshTokenQuery{Environment: env, ClientID: clientID, HomeAccountID: home})
	return rt.Secret
}

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// claimsOf decodes a JWT's payload without verifying it.
func claimsOf(t *testing.T, tok string) map[string]any {
	t.Helper()
	c, err := jwtClaims(tok)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// headerOf decodes a JWT's header.
func headerOf(t *testing.T, tok string) map[string]any {
	t.Helper()
	b, err := decodeSegment(strings.Split(tok, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

var (
	foreignKeyOnce sync.Once
	foreignKey     *rsa.PrivateKey
)

// signRS256 signs header and claims with a key no authority publishes.
func signRS256(t *testing.T, header, claims map[string]any) string {
	t.Helper()
	foreignKeyOnce.Do(func() { foreignKey, _ = rsa.GenerateKey(rand.Reader, 2048) })
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	input := b64url(h) + "." + b64url(c)
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, foreignKey, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + b64url(sig)
}
