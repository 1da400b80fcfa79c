package flow_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"strings"

	"github.com/bearerhttp/bearer"
	"github.com/bearerhttp/bearer/authtest"
	"github.com/bearerhttp/bearer/challenge"
	"github.com/bearerhttp/bearer/credential"
	"github.com/bearerhttp/bearer/flow"
)

// browser plays a user's browser at authtest's sign-in page: it returns
// the authorization response the authority sends to the redirect URI.
func browser(srv *authtest.Server, authURI string) url.Values {
	c := srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Get(authURI)
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		log.Fatal(err)
	}
	return loc.Query()
}

// exampleServer is authtest posing as Entra, with a web app, a public
// client and alice.
func exampleServer() *authtest.Server {
	srv := authtest.NewTLSServer(nil)
	srv.AddClient(authtest.Client{ID: "my-web-app", Secret: "s3cret", RedirectURIs: []string{"https://app.example/callback"}})
	srv.AddClient(authtest.Client{ID: "my-cli", Public: true, RedirectURIs: []string{"http://localhost/cb"}})
	srv.AddUser(authtest.User{Username: "alice@contoso.com", Password: "alice-PASSWORD", TenantID: "6f7e3a2b-1c4d-4e5f-8a9b-0c1d2e3f4a5b"})
	return srv
}

func ExampleNewPublic() {
	// A command-line tool signing users in to any organization.
	app, err := flow.NewPublic("my-cli", flow.WithAuthority("https://login.microsoftonline.com/organizations"))
	fmt.Println(app != nil, err)
	// Output: true <nil>
}

// A web app signs a user in and calls Microsoft Graph for them: one
// handler starts the sign-in and keeps the flow in the user's session,
// the redirect URI's handler completes it.
func ExampleConfidential_InitiateAuthCodeFlow() {
	srv := exampleServer()
	defer srv.Close()
	ctx := context.Background()
	app, err := flow.NewConfidential("my-web-app", credential.Secret("s3cret"),
		flow.WithAuthority("https://login.microsoftonline.com/organizations"),
		flow.WithHTTPClient(srv.Client()))
	if err != nil {
		log.Fatal(err)
	}
	// GET /login: start, keep the flow (server side), redirect the user.
	f, err := app.InitiateAuthCodeFlow(ctx, []string{"User.Read"}, "https://app.example/callback",
		flow.LoginHint("alice@contoso.com"))
	if err != nil {
		log.Fatal(err)
	}
	session := map[string]flow.AuthCodeFlow{"flow": f}
	response := browser(srv, f.AuthURI) // the user signs in; the browser comes back

	// GET /callback: complete the sign-in with the response's query.
	r, err := app.AcquireTokenByAuthCodeFlow(ctx, session["flow"], response)
	if err != nil {
		log.Fatal(err) // a forged state, access_denied, a bad ID token…
	}
	fmt.Println("signed in:", r.Account.Username)

	// Later requests: Graph as the user, tokens from the cache or refreshed.
	client := &http.Client{Transport: &bearer.Transport{
		Source: app.AccountSource(r.Account),
		Scopes: []string{"https://graph.microsoft.com/User.Read"},
		Base:   srv.Transport(), // only because authtest stands for Graph here
	}}
	resp, err := client.Get("https://graph.microsoft.com/v1.0/me")
	if err != nil {
		log.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, strings.Contains(string(body), "alice@contoso.com"))
	// Output:
	// signed in: alice@contoso.com
	// 200 true
}

func ExamplePublic_AcquireTokenByAuthCodeFlow() {
	srv := exampleServer()
	defer srv.Close()
	ctx := context.Background()
	app, _ := flow.NewPublic("my-cli", flow.WithAuthority("https://login.microsoftonline.com/organizations"),
		flow.WithHTTPClient(srv.Client()))
	f, _ := app.InitiateAuthCodeFlow(ctx, []string{"User.Read"}, "http://localhost/cb", flow.LoginHint("alice@contoso.com"))
	response := browser(srv, f.AuthURI)

	// A response that is not the flow's is refused before any request.
	forged := url.Values{"state": {"guessed"}, "code": response["code"]}
	_, err := app.AcquireTokenByAuthCodeFlow(ctx, f, forged)
	fmt.Println(errors.Is(err, flow.ErrStateMismatch))

	r, err := app.AcquireTokenByAuthCodeFlow(ctx, f, response)
	fmt.Println(r.Account.Username, r.IDTokenClaims["nonce"] == f.Nonce, r.RefreshToken != "", err)
	// Output:
	// true
	// alice@contoso.com true true <nil>
}

func ExampleConfidential_AcquireTokenByAuthorizationCode() {
	srv := exampleServer()
	defer srv.Close()
	ctx := context.Background()
	app, _ := flow.NewConfidential("my-web-app", credential.Secret("s3cret"),
		flow.WithAuthority("https://login.microsoftonline.com/organizations"), flow.WithHTTPClient(srv.Client()))
	// The legacy way: the caller makes and checks state, nonce and PKCE.
	const verifier = "a-pkce-code-verifier-of-43-characters-or-more"
	u, _ := app.AuthorizationRequestURL(ctx, []string{"User.Read"}, "https://app.example/callback",
		flow.State("st-1"), flow.Nonce("n-1"), flow.PKCE(verifier), flow.LoginHint("alice@contoso.com"))
	response := browser(srv, u)
	if response.Get("state") != "st-1" {
		log.Fatal("forged response")
	}
	r, err := app.AcquireTokenByAuthorizationCode(ctx, response.Get("code"), "https://app.example/callback",
		[]string{"User.Read"}, flow.Nonce("n-1"), flow.PKCE(verifier))
	fmt.Println(r.Account.Username, err)
	// Output: alice@contoso.com <nil>
}

func ExamplePublic_AcquireTokenSilent() {
	srv := exampleServer()
	defer srv.Close()
	ctx := context.Background()
	app, _ := flow.NewPublic("my-cli", flow.WithAuthority("https://login.microsoftonline.com/organizations"),
		flow.WithHTTPClient(srv.Client()), flow.WithClock(srv.Now))
	f, _ := app.InitiateAuthCodeFlow(ctx, []string{"User.Read"}, "http://localhost/cb", flow.LoginHint("alice@contoso.com"))
	if _, err := app.AcquireTokenByAuthCodeFlow(ctx, f, browser(srv, f.AuthURI)); err != nil {
		log.Fatal(err)
	}

	// Any later run: pick the account, get a token without the user.
	accounts, _ := app.Accounts(ctx, "alice@contoso.com")
	r, err := app.AcquireTokenSilent(ctx, []string{"User.Read"}, accounts[0])
	fmt.Println("from cache:", r.FromCache, err)
	// ForceRefresh redeems the cached refresh token.
	r, err = app.AcquireTokenSilent(ctx, []string{"User.Read"}, accounts[0], flow.ForceRefresh())
	fmt.Println("from cache:", r.FromCache, err)
	// A refresh token the authority revoked means signing in again.
	srv.RevokeRefreshTokens("alice@contoso.com")
	_, err = app.AcquireTokenSilent(ctx, []string{"User.Read"}, accounts[0], flow.ForceRefresh())
	fmt.Println(errors.Is(err, flow.ErrInteractionRequired))
	// Output:
	// from cache: true <nil>
	// from cache: false <nil>
	// true
}

func ExamplePublic_Accounts() {
	srv := exampleServer()
	defer srv.Close()
	ctx := context.Background()
	app, _ := flow.NewPublic("my-cli", flow.WithAuthority("https://login.microsoftonline.com/organizations"),
		flow.WithHTTPClient(srv.Client()))
	if _, err := app.AcquireTokenByUsernamePassword(ctx, "alice@contoso.com", "alice-PASSWORD", []string{"User.Read"}); err != nil {
		log.Fatal(err)
	}
	accounts, _ := app.Accounts(ctx, "")
	for _, a := range accounts {
		fmt.Println(a.Username, a.Environment, a.AuthorityType)
	}
	// Signing out of the application: the account and its tokens go.
	_ = app.RemoveAccount(ctx, accounts[0])
	accounts, _ = app.Accounts(ctx, "")
	fmt.Println(len(accounts))
	// Output:
	// alice@contoso.com login.microsoftonline.com MSSTS
	// 0
}

func ExamplePublic_AcquireTokenByUsernamePassword() {
	srv := exampleServer()
	defer srv.Close()
	srv.AddFederatedDomain("fabrikam.com")
	ctx := context.Background()
	app, _ := flow.NewPublic("my-cli", flow.WithAuthority("https://login.microsoftonline.com/organizations"),
		flow.WithHTTPClient(srv.Client()))
	r, err := app.AcquireTokenByUsernamePassword(ctx, "alice@contoso.com", "alice-PASSWORD", []string{"User.Read"})
	fmt.Println(r.Account.Username, err)
	_, err = app.AcquireTokenByUsernamePassword(ctx, "ann@fabrikam.com", "ann-PASSWORD", []string{"User.Read"})
	fmt.Println(errors.Is(err, flow.ErrFederatedUser))
	// Output:
	// alice@contoso.com <nil>
	// true
}

func ExamplePublic_AcquireTokenByRefreshToken() {
	srv := exampleServer()
	defer srv.Close()
	ctx := context.Background()
	// A refresh token kept by an older version of the application.
	old, _ := flow.NewPublic("my-cli", flow.WithAuthority("https://login.microsoftonline.com/organizations"),
		flow.WithHTTPClient(srv.Client()))
	r, _ := old.AcquireTokenByUsernamePassword(ctx, "alice@contoso.com", "alice-PASSWORD", []string{"User.Read"})

	app, _ := flow.NewPublic("my-cli", flow.WithAuthority("https://login.microsoftonline.com/organizations"),
		flow.WithHTTPClient(srv.Client()))
	if _, err := app.AcquireTokenByRefreshToken(ctx, r.RefreshToken, []string{"User.Read"}); err != nil {
		log.Fatal(err)
	}
	accounts, _ := app.Accounts(ctx, "")
	s, err := app.AcquireTokenSilent(ctx, []string{"User.Read"}, accounts[0])
	fmt.Println(accounts[0].Username, s.FromCache, err)
	// Output: alice@contoso.com true <nil>
}

// A resource asks for a step-up: the source cannot satisfy it without the
// user, and says what the new sign-in must ask for.
func ExampleConfidential_AccountSource() {
	srv := exampleServer()
	defer srv.Close()
	ctx := context.Background()
	app, _ := flow.NewConfidential("my-web-app", credential.Secret("s3cret"),
		flow.WithAuthority("https://login.microsoftonline.com/organizations"), flow.WithHTTPClient(srv.Client()))
	f, _ := app.InitiateAuthCodeFlow(ctx, []string{"User.Read"}, "https://app.example/callback", flow.LoginHint("alice@contoso.com"))
	r, _ := app.AcquireTokenByAuthCodeFlow(ctx, f, browser(srv, f.AuthURI))

	src := app.AccountSource(r.Account)
	chs, _ := challenge.Parse(`Bearer error="insufficient_user_authentication", acr_values="c2", max_age="300"`)
	_, err := src.Token(ctx, bearer.TokenRequest{Scopes: []string{"User.Read"}, Challenge: &chs[0]})
	var ie *flow.InteractionError
	if errors.As(err, &ie) {
		again, _ := app.InitiateAuthCodeFlow(ctx, []string{"User.Read"}, "https://app.example/callback", ie.SignInOptions()...)
		q := func() url.Values { u, _ := url.Parse(again.AuthURI); return u.Query() }()
		fmt.Println(q.Get("acr_values"), q.Get("max_age"))
	}
	// Output: c2 300
}

func ExampleInteractionError() {
	srv := exampleServer()
	defer srv.Close()
	ctx := context.Background()
	app, _ := flow.NewPublic("my-cli", flow.WithAuthority("https://login.microsoftonline.com/organizations"),
		flow.WithHTTPClient(srv.Client()))
	_, err := app.AcquireTokenSilent(ctx, []string{"User.Read"}, flow.Account{})
	var ie *flow.InteractionError
	fmt.Println(errors.As(err, &ie), errors.Is(err, flow.ErrInteractionRequired))
	// Output: true true
}

func ExampleConfidential_LogoutURL() {
	app, _ := flow.NewConfidential("my-web-app", credential.Secret("s3cret"),
		flow.WithAuthority("https://login.microsoftonline.com/contoso.com"))
	u, err := app.LogoutURL(context.Background(), "https://app.example/signed-out")
	fmt.Println(u, err)
	// Output: https://login.microsoftonline.com/contoso.com/oauth2/v2.0/logout?client_id=my-web-app&post_logout_redirect_uri=https%3A%2F%2Fapp.example%2Fsigned-out <nil>
}

// A multi-tenant daemon asks an administrator of another organization to
// consent, then gets tokens in that tenant.
func ExampleConfidential_AdminConsentURL() {
	srv := exampleServer()
	defer srv.Close()
	srv.AddUser(authtest.User{Username: "admin@fabrikam.com", TenantID: "1d2e3f4a-0000-4000-8000-000000000009"})
	ctx := context.Background()
	app, _ := flow.NewConfidential("my-web-app", credential.Secret("s3cret"),
		flow.WithAuthority("https://login.microsoftonline.com/organizations"), flow.WithHTTPClient(srv.Client()))
	req, _ := app.AdminConsentURL(ctx, []string{"https://graph.microsoft.com/.default"}, "https://app.example/callback")
	_ = srv.SignIn("admin@fabrikam.com") // the administrator, in the browser
	consent, err := app.AdminConsentResult(req, browser(srv, req.URL))
	fmt.Println(consent.TenantID, err)
	_, err = app.AcquireTokenForClient(ctx, []string{"https://graph.microsoft.com/.default"}, flow.Tenant(consent.TenantID))
	fmt.Println(err)
	// Output:
	// 1d2e3f4a-0000-4000-8000-000000000009 <nil>
	// <nil>
}

func ExampleIDTokenError() {
	srv := exampleServer()
	defer srv.Close()
	ctx := context.Background()
	app, _ := flow.NewPublic("my-cli", flow.WithAuthority("https://login.microsoftonline.com/organizations"),
		flow.WithHTTPClient(srv.Client()))
	f, _ := app.InitiateAuthCodeFlow(ctx, []string{"User.Read"}, "http://localhost/cb", flow.LoginHint("alice@contoso.com"))
	response := browser(srv, f.AuthURI)
	f.Nonce = "the-nonce-of-another-sign-in" // as if the ID token were replayed
	_, err := app.AcquireTokenByAuthCodeFlow(ctx, f, response)
	var ite *flow.IDTokenError
	fmt.Println(errors.As(err, &ite), ite.Check)
	// Output: true nonce
}
