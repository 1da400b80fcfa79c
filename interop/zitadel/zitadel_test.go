package zitadel_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"

	"github.com/bearerhttp/bearer"
	"github.com/bearerhttp/bearer/credential"
	"github.com/bearerhttp/bearer/flow"
)

const (
	nativeID    = "bearer-native"
	webID       = "bearer-web"
	webSecret   = "bearer-web-s3cret"
	redirectURI = "http://localhost/cb"
	password    = "verysecure" // the example user store's
)

var registerOnce sync.Once

// op starts zitadel's example OpenID Provider on loopback and returns its
// issuer and the user's name.
func op(t *testing.T) (issuer, username string) {
	t.Helper()
	registerOnce.Do(func() {
		storage.RegisterClients(
			storage.NativeClient(nativeID, redirectURI),
			storage.WebClient(webID, webSecret, redirectURI),
		)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer = "http://" + ln.Addr().String()
	st := storage.NewStorage(storage.NewUserStore(issuer))
	srv := httptest.NewUnstartedServer(exampleop.SetupServer(issuer, st, slog.New(slog.DiscardHandler), false))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return issuer, "test-user@127.0.0.1"
}

// browse plays the user's browser: it follows the OP's redirects through
// its login page, signs in, and returns the authorization response sent
// to the redirect URI (without calling it).
func browse(t *testing.T, authURI, username string) url.Values {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	next := authURI
	for range 10 {
		u, err := url.Parse(next)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(next, redirectURI) {
			return u.Query()
		}
		var resp *http.Response
		if strings.HasSuffix(u.Path, "/login/username") {
			resp, err = c.PostForm(u.Scheme+"://"+u.Host+u.Path, url.Values{
				"username": {username}, "password": {password}, "id": {u.Query().Get("authRequestID")},
			})
		} else {
			resp, err = c.Get(next)
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("%s answered %d: %.300s", u.Path, resp.StatusCode, body)
		}
		loc, err := u.Parse(resp.Header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		next = loc.String()
	}
	t.Fatal("too many redirects")
	return nil
}

type signer interface {
	InitiateAuthCodeFlow(ctx context.Context, scopes []string, redirectURI string, opts ...flow.CallOption) (flow.AuthCodeFlow, error)
	AcquireTokenByAuthCodeFlow(ctx context.Context, f flow.AuthCodeFlow, response url.Values, opts ...flow.CallOption) (flow.Result, error)
	AcquireTokenSilent(ctx context.Context, scopes []string, account flow.Account, opts ...flow.CallOption) (flow.Result, error)
	Accounts(ctx context.Context, username string) ([]flow.Account, error)
	AccountSource(account flow.Account) bearer.TokenSource
}

func TestAuthCodeFlowWithPKCEAgainstZitadel(t *testing.T) {
	ctx := context.Background()
	for _, kind := range []string{"public", "confidential"} {
		t.Run(kind, func(t *testing.T) {
			issuer, user := op(t)
			var app signer
			var err error
			if kind == "public" {
				app, err = flow.NewPublic(nativeID, flow.WithOIDCAuthority(issuer))
			} else {
				app, err = flow.NewConfidential(webID, credential.Secret(webSecret), flow.WithOIDCAuthority(issuer))
			}
			if err != nil {
				t.Fatal(err)
			}
			f, err := app.InitiateAuthCodeFlow(ctx, []string{"email"}, redirectURI)
			if err != nil {
				t.Fatal(err)
			}
			if q := mustQuery(t, f.AuthURI); q.Get("code_challenge_method") != "S256" || q.Get("nonce") == "" || q.Get("client_info") != "" {
				t.Errorf("authorization request %v", q)
			}
			resp := browse(t, f.AuthURI, user)

			// A forged response (another state) is refused before any request.
			forged := url.Values{"code": resp["code"], "state": {"forged"}}
			if _, err := app.AcquireTokenByAuthCodeFlow(ctx, f, forged); !errors.Is(err, flow.ErrStateMismatch) {
				t.Fatalf("forged state: %v", err)
			}
			// An ID token whose nonce is not the flow's is refused.
			bad := f
			bad.Nonce = "not-the-nonce-of-this-sign-in"
			if _, err := app.AcquireTokenByAuthCodeFlow(ctx, bad, resp); !errors.Is(err, flow.ErrInvalidIDToken) {
				t.Fatalf("wrong nonce: %v", err)
			}
			// That redemption used the code: sign in again.
			f, _ = app.InitiateAuthCodeFlow(ctx, []string{"email"}, redirectURI)
			r, err := app.AcquireTokenByAuthCodeFlow(ctx, f, browse(t, f.AuthURI, user))
			if err != nil {
				t.Fatal(err)
			}
			if r.AccessToken == "" || r.RefreshToken == "" || r.IDTokenClaims["nonce"] != f.Nonce || r.IDTokenClaims["iss"] != issuer {
				t.Errorf("result %+v, claims %v", r, r.IDTokenClaims)
			}
			sub, _ := r.IDTokenClaims["sub"].(string)
			if r.Account.HomeAccountID != sub || r.Account.AuthorityType != flow.AuthorityTypeGeneric || r.Account.Environment != strings.TrimPrefix(issuer, "http://") {
				t.Errorf("account %+v (%s)", r.Account, r.Account.HomeAccountID)
			}
			accts, err := app.Accounts(ctx, "")
			if err != nil || len(accts) != 1 || accts[0].HomeAccountID != sub {
				t.Fatalf("accounts %v, %v", accts, err)
			}
			s, err := app.AcquireTokenSilent(ctx, []string{"email"}, accts[0])
			if err != nil || !s.FromCache || s.AccessToken != r.AccessToken {
				t.Errorf("silent from the cache: %+v %v", s, err)
			}
			// Refresh: the OP rotates the refresh token; the new one is cached
			// and redeems again.
			f1, err := app.AcquireTokenSilent(ctx, []string{"email"}, accts[0], flow.ForceRefresh())
			if err != nil || f1.FromCache || f1.RefreshToken == "" || f1.RefreshToken == r.RefreshToken || f1.AccessToken == r.AccessToken {
				t.Fatalf("refresh: %+v %v", f1, err)
			}
			f2, err := app.AcquireTokenSilent(ctx, []string{"email"}, accts[0], flow.ForceRefresh())
			if err != nil || f2.RefreshToken == f1.RefreshToken {
				t.Fatalf("refresh with the rotated token: %+v %v", f2, err)
			}
			tok, err := app.AccountSource(accts[0]).Token(ctx, bearer.TokenRequest{Scopes: []string{"email"}})
			if err != nil || tok.AccessToken != f2.AccessToken {
				t.Errorf("AccountSource: %v", err)
			}
		})
	}
}

func mustQuery(t *testing.T, raw string) url.Values {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}
