package flow

import (
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"

	"github.com/bearerhttp/bearer"
	"github.com/bearerhttp/bearer/authtest"
	"github.com/bearerhttp/bearer/cache"
	"github.com/bearerhttp/bearer/credential"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

// dpopUserServer is newDPoPServer with the user-flow fixtures: the web
// app, the public client and alice.
func dpopUserServer(t *testing.T) *authtest.Server {
	t.Helper()
	srv := newDPoPServer(t)
	srv.AddClient(authtest.Client{ID: webID, Secret: webSecret, RedirectURIs: []string{webRedirect}})
	srv.AddClient(authtest.Client{ID: pubID, Public: true, RedirectURIs: []string{pubRedirect}})
	srv.AddUser(authtest.User{Username: aliceUser, Password: alicePass, TenantID: contosoID})
	return srv
}

// userApp is what the DPoP user-flow tests need of either kind of
// application.
type userApp interface {
	signer
	AcquireTokenByUsernamePassword(ctx context.Context, username, password string, scopes []string, opts ...CallOption) (Result, error)
	AcquireTokenByRefreshToken(ctx context.Context, refreshToken string, scopes []string, opts ...CallOption) (Result, error)
	AccountSource(Account) bearer.TokenSource
	SupportsDPoP(ctx context.Context) (bool, error)
}

var (
	_ userApp = (*Confidential)(nil)
	_ userApp = (*Public)(nil)
)

// proofKey returns the RFC 7638 thumbprint of the key of the one DPoP
// proof r carries, "" when it carries none.
func proofKey(t *testing.T, r authtest.Request) string {
	t.Helper()
	proofs := r.Header.Values("DPoP")
	if len(proofs) == 0 {
		return ""
	}
	if len(proofs) != 1 {
		t.Fatalf("%v: %d DPoP headers", r, len(proofs))
	}
	hdr, _ := jwtParts(t, proofs[0])
	raw, err := json.Marshal(hdr["jwk"])
	if err != nil {
		t.Fatal(err)
	}
	k, err := jwk.ParseKey(raw)
	if err != nil {
		t.Fatalf("%v: the proof's jwk: %v", r, err)
	}
	sum, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(sum)
}

// TestDPoPUserFlows: with WithDPoP, every user flow of a confidential
// and of a public client gets tokens bound to the application's key
// from an authority that supports DPoP (authtest's OIDC shape, which
// binds user tokens, and a public client's refresh tokens, to the key of
// the request's proof): each token request (auth code, username and
// password, refresh token, AcquireTokenSilent's refresh) carries a proof
// of the key, after the authority's nonce; AcquireTokenSilent then finds
// the DPoP token in the cache (no token request); AccountSource through
// a bearer.Transport sends "Authorization: DPoP" with a proof, which the
// resource accepts.
func TestDPoPUserFlows(t *testing.T) {
	for _, tt := range []struct {
		name     string
		id       string
		redirect string
		newApp   func(t *testing.T, srv *authtest.Server, opts ...Option) userApp
	}{
		{"confidential", webID, webRedirect, func(t *testing.T, srv *authtest.Server, opts ...Option) userApp {
			return mustConfidential(t, webID, credential.Secret(webSecret), opts...)
		}},
		{"public", pubID, pubRedirect, func(t *testing.T, srv *authtest.Server, opts ...Option) userApp {
			return mustPublic(t, pubID, opts...)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := dpopUserServer(t)
			srv.RequireDPoPNonce(authtest.EndpointToken)
			key := p256(t)
			jkt := thumbprint(t, key)
			c := cache.New()
			opts := []Option{WithOIDCAuthority(srv.OIDCIssuer()), WithHTTPClient(srv.Client()), WithClock(srv.Now), WithCache(c)}
			app := tt.newApp(t, srv, append(opts, WithDPoP(key))...)
			scopes := []string{ordersScope}

			if ok, err := app.SupportsDPoP(bg()); err != nil || !ok {
				t.Fatalf("SupportsDPoP: %v, %v; want true", ok, err)
			}
			// bound checks that r is a token bound to key, and that the
			// token requests since the last check (of grant) carried proofs
			// of key, the first one refused for a nonce when nonce.
			bound := func(t *testing.T, what string, r Result, grant string, nonce bool) {
				t.Helper()
				if r.TokenType != "DPoP" {
					t.Errorf("%s: token type %q, want DPoP", what, r.TokenType)
				}
				claims, err := srv.Verify(r.AccessToken)
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				if cnf, _ := claims["cnf"].(map[string]any); cnf["jkt"] != jkt {
					t.Errorf("%s: the token is bound to %v, want the key %s", what, claims["cnf"], jkt)
				}
				reqs := srv.RequestsTo(authtest.EndpointToken)
				want := 1
				if nonce {
					want = 2
				}
				if len(reqs) != want || reqs[len(reqs)-1].Status != 200 {
					t.Fatalf("%s: token requests %v, want %d ending in 200", what, reqs, want)
				}
				if nonce {
					if reqs[0].Status != 400 {
						t.Errorf("%s: the first token request answered %d, want 400 use_dpop_nonce", what, reqs[0].Status)
					}
					if _, cl := jwtParts(t, reqs[1].Header.Get("DPoP")); cl["nonce"] != srv.DPoPNonce(authtest.EndpointToken) {
						t.Errorf("%s: the retry's proof has nonce %v, want the authority's", what, cl["nonce"])
					}
				}
				for _, req := range reqs {
					if req.GrantType != grant {
						t.Errorf("%s: grant type %q, want %q", what, req.GrantType, grant)
					}
					if k := proofKey(t, req); k != jkt {
						t.Errorf("%s: %v carries a proof of the key %q, want %q", what, req, k, jkt)
					}
				}
				srv.ResetRequests()
			}

			// Sign-in: the code is redeemed with a proof (after the
			// authority's nonce: a use_dpop_nonce refusal does not spend
			// the code), for tokens bound to the key.
			r := userSignIn(t, srv, app, tt.redirect, aliceUser, scopes)
			if r.RefreshToken == "" || r.Account.IsZero() {
				t.Fatalf("sign-in: no refresh token or no account")
			}
			bound(t, "sign-in", r, "authorization_code", true)

			// AcquireTokenSilent finds the DPoP token in the cache.
			s, err := app.AcquireTokenSilent(bg(), scopes, r.Account)
			if err != nil {
				t.Fatal(err)
			}
			if !s.FromCache || s.AccessToken != r.AccessToken || s.TokenType != "DPoP" {
				t.Errorf("silent: from cache %v, same token %v, type %q; want the cached DPoP token", s.FromCache, s.AccessToken == r.AccessToken, s.TokenType)
			}
			if n := srv.TokenRequests(); n != 0 {
				t.Errorf("silent: %d token requests, want 0 (served from the cache)", n)
			}

			// AccountSource through a bearer.Transport: Authorization: DPoP
			// with a proof of the key, accepted by the resource; the token
			// comes from the cache.
			orders := srv.URL + "/resource/orders"
			if st := getStatus(t, resourceClient(srv, app.AccountSource(r.Account)), orders); st != 200 {
				t.Fatalf("AccountSource: the resource answered %d", st)
			}
			res := srv.RequestsTo(authtest.EndpointResource)
			if len(res) != 1 {
				t.Fatalf("%d resource requests, want 1", len(res))
			}
			if auth := res[0].Header.Get("Authorization"); auth != "DPoP "+r.AccessToken {
				t.Errorf("AccountSource: Authorization %.12q..., want DPoP and the cached token", auth)
			}
			if k := proofKey(t, res[0]); k != jkt {
				t.Errorf("AccountSource: a proof of the key %q, want %q", k, jkt)
			}
			if n := srv.TokenRequests(); n != 0 {
				t.Errorf("AccountSource: %d token requests, want 0", n)
			}
			srv.ResetRequests()

			// The refresh token is redeemed with a proof of the same key
			// (for a public client, authtest refuses any other).
			s, err = app.AcquireTokenSilent(bg(), scopes, r.Account, ForceRefresh())
			if err != nil {
				t.Fatal(err)
			}
			bound(t, "silent, forced", s, "refresh_token", false)
			s, err = app.AcquireTokenSilent(bg(), scopes, r.Account)
			if err != nil || !s.FromCache || s.TokenType != "DPoP" {
				t.Errorf("silent after the refresh: %v, from cache %v", err, s.FromCache)
			}
			if n := srv.TokenRequests(); n != 0 {
				t.Errorf("silent after the refresh: %d token requests, want 0", n)
			}

			rt := cachedRefreshToken(c, tt.id, r.Account.Environment, r.Account.HomeAccountID)
			m, err := app.AcquireTokenByRefreshToken(bg(), rt, scopes)
			if err != nil {
				t.Fatal(err)
			}
			bound(t, "AcquireTokenByRefreshToken", m, "refresh_token", false)

			srv.RotateDPoPNonces()
			srv.RotateDPoPNonces() // the app's nonce is now refused
			p, err := app.AcquireTokenByUsernamePassword(bg(), aliceUser, alicePass, scopes)
			if err != nil {
				t.Fatal(err)
			}
			bound(t, "username and password", p, "password", true)
		})
	}
}

// TestDPoPUserTokensBoundToTheKey: an application with another key (or
// none) sharing the cache is not served the user's DPoP token; a public
// client's refresh token bound to the key is refused to it by the
// authority, which AcquireTokenSilent reports as interaction required.
func TestDPoPUserTokensBoundToTheKey(t *testing.T) {
	srv := dpopUserServer(t)
	c := cache.New()
	opts := []Option{WithOIDCAuthority(srv.OIDCIssuer()), WithHTTPClient(srv.Client()), WithClock(srv.Now), WithCache(c)}
	app := mustPublic(t, pubID, append(opts, WithDPoP(p256(t)))...)
	scopes := []string{ordersScope}
	r := userSignIn(t, srv, app, pubRedirect, aliceUser, scopes)
	srv.ResetRequests()

	for _, other := range []struct {
		name string
		opts []Option
	}{
		{"another_key", []Option{WithDPoP(p256(t))}},
		{"bearer", nil},
	} {
		t.Run(other.name, func(t *testing.T) {
			o := mustPublic(t, pubID, append(opts, other.opts...)...)
			s, err := o.AcquireTokenSilent(bg(), scopes, r.Account)
			if !errors.Is(err, ErrInteractionRequired) {
				t.Fatalf("silent: %v (from cache %v, same token %v), want interaction required", err, s.FromCache, s.AccessToken == r.AccessToken)
			}
			reqs := srv.RequestsTo(authtest.EndpointToken)
			if len(reqs) != 1 || reqs[0].GrantType != "refresh_token" || reqs[0].Status != 400 {
				t.Errorf("token requests %v, want one refused refresh token redemption", reqs)
			}
			srv.ResetRequests()
		})
	}
	// The application's own key is still served from the cache.
	if s, err := app.AcquireTokenSilent(bg(), scopes, r.Account); err != nil || !s.FromCache || s.AccessToken != r.AccessToken {
		t.Errorf("silent with the key: %v, from cache %v", err, s.FromCache)
	}
}
