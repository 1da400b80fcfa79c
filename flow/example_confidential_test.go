package flow_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/bearerhttp/bearer"
	"github.com/bearerhttp/bearer/authtest"
	"github.com/bearerhttp/bearer/credential"
	"github.com/bearerhttp/bearer/flow"
)

func ExampleNewConfidential() {
	// A daemon of tenant contoso.com, authenticating with a client
	// secret, declaring that it handles claims challenges (cp1).
	app, err := flow.NewConfidential("my-daemon", credential.Secret("s3cret"),
		flow.WithAuthority("https://login.microsoftonline.com/contoso.com"),
		flow.WithCapabilities("cp1"),
	)
	fmt.Println(app != nil, err)

	// A credential that cannot authenticate at all fails at once.
	_, err = flow.NewConfidential("my-daemon", credential.Secret(""))
	fmt.Println(errors.Is(err, credential.ErrEmptySecret))
	// Output:
	// true <nil>
	// true
}

func ExampleConfidential_AcquireTokenForClient() {
	// authtest stands for Entra: over TLS it answers for Entra's real
	// host names, reached through srv.Client().
	srv := authtest.NewTLSServer(nil)
	defer srv.Close()
	srv.AddClient(authtest.Client{ID: "my-daemon", Secret: "s3cret"})

	app, err := flow.NewConfidential("my-daemon", credential.Secret("s3cret"),
		flow.WithAuthority("https://login.microsoftonline.com/contoso.com"),
		flow.WithHTTPClient(srv.Client()))
	if err != nil {
		log.Fatal(err)
	}
	scopes := []string{"https://graph.microsoft.com/.default"}
	for range 2 {
		r, err := app.AcquireTokenForClient(context.Background(), scopes)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(r.TokenType, r.Scopes, "from cache:", r.FromCache)
	}
	fmt.Println("token requests:", srv.TokenRequests())

	// Client credentials need a specific tenant.
	common, _ := flow.NewConfidential("my-daemon", credential.Secret("s3cret"),
		flow.WithAuthority("https://login.microsoftonline.com/common"))
	_, err = common.AcquireTokenForClient(context.Background(), scopes)
	fmt.Println(errors.Is(err, flow.ErrTenantRequired))
	// Output:
	// Bearer [https://graph.microsoft.com/.default] from cache: false
	// Bearer [https://graph.microsoft.com/.default] from cache: true
	// token requests: 1
	// true
}

func ExampleConfidential_ClientSource() {
	srv := authtest.NewTLSServer(nil)
	defer srv.Close()
	srv.AddClient(authtest.Client{ID: "my-daemon", Secret: "s3cret"})

	app, err := flow.NewConfidential("my-daemon", credential.Secret("s3cret"),
		flow.WithAuthority("https://login.microsoftonline.com/contoso.com"),
		flow.WithCapabilities("cp1"), // CAE-ready tokens
		flow.WithHTTPClient(srv.Client()))
	if err != nil {
		log.Fatal(err)
	}
	client := &http.Client{Transport: &bearer.Transport{
		Source: app.ClientSource(), // caches: no ReuseTokenSource needed
		Scopes: []string{"https://graph.microsoft.com/.default"},
		Base:   srv.Transport(), // in production: nil, http.DefaultTransport
	}}
	get := func() {
		resp, err := client.Get("https://graph.microsoft.com/v1.0/users")
		if err != nil {
			log.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		fmt.Println(resp.Status)
	}
	get()
	// Continuous access evaluation: the resource now refuses the
	// application's tokens with a claims challenge; the transport gets a
	// new token carrying the claims and sends the request again.
	srv.Revoke("my-daemon")
	get()
	fmt.Println("token requests:", srv.TokenRequests())
	// Output:
	// 200 OK
	// 200 OK
	// token requests: 2
}

func ExampleConfidential_AcquireTokenOnBehalfOf() {
	srv := authtest.NewTLSServer(nil)
	defer srv.Close()
	srv.AddUser(authtest.User{Username: "alice@contoso.com", Password: "pw"})
	srv.AddClient(authtest.Client{ID: "orders-api", Secret: "s3cret"})
	srv.AddAPI(authtest.API{Audience: "api://orders", AppID: "orders-api", Scopes: []string{"Orders.Read"}})

	// The token a front end sent to the orders API on alice's behalf.
	userToken := srv.IssueAccessToken(authtest.AccessTokenSpec{
		Audience: "api://orders", Scopes: []string{"Orders.Read"}, Subject: "alice@contoso.com"})

	app, err := flow.NewConfidential("orders-api", credential.Secret("s3cret"),
		flow.WithAuthority("https://login.microsoftonline.com/contoso.com"),
		flow.WithHTTPClient(srv.Client()))
	if err != nil {
		log.Fatal(err)
	}
	for range 2 {
		r, err := app.AcquireTokenOnBehalfOf(context.Background(), userToken, []string{"User.Read"})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(r.Account.Username, r.Scopes, "from cache:", r.FromCache)
	}
	// Output:
	// alice@contoso.com [User.Read profile openid] from cache: false
	// alice@contoso.com [User.Read profile openid] from cache: true
}

func ExampleConfidential_Middleware() {
	srv := authtest.NewTLSServer(nil)
	defer srv.Close()
	srv.AddUser(authtest.User{Username: "alice@contoso.com", Password: "pw"})
	srv.AddClient(authtest.Client{ID: "orders-api", Secret: "s3cret"})
	srv.AddAPI(authtest.API{Audience: "api://orders", AppID: "orders-api", Scopes: []string{"Orders.Read"}})

	app, err := flow.NewConfidential("orders-api", credential.Secret("s3cret"),
		flow.WithAuthority("https://login.microsoftonline.com/contoso.com"),
		flow.WithHTTPClient(srv.Client()))
	if err != nil {
		log.Fatal(err)
	}
	// One transport calls Microsoft Graph for every caller: the caller's
	// token travels in each request's context.
	graph := &http.Client{Transport: &bearer.Transport{
		Source: app.OnBehalfOfSource(),
		Scopes: []string{"User.Read"},
		Base:   srv.Transport(),
	}}
	me := func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, "https://graph.microsoft.com/v1.0/me", nil)
		resp, err := graph.Do(req)
		if err != nil {
			http.Error(w, "Graph is unavailable", http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		io.Copy(w, resp.Body)
	}
	api := app.Middleware(http.HandlerFunc(me), flow.WithAudiences("api://orders"))

	call := func(authorization string) {
		r := httptest.NewRequest(http.MethodGet, "/me", nil)
		if authorization != "" {
			r.Header.Set("Authorization", authorization)
		}
		w := httptest.NewRecorder()
		api.ServeHTTP(w, r)
		fmt.Println(w.Code, w.Header().Get("WWW-Authenticate"), strings.Contains(w.Body.String(), `"userPrincipalName":"alice@contoso.com"`))
	}
	call("Bearer " + srv.IssueAccessToken(authtest.AccessTokenSpec{
		Audience: "api://orders", Scopes: []string{"Orders.Read"}, Subject: "alice@contoso.com"}))
	call("")
	call("Bearer " + srv.IssueAccessToken(authtest.AccessTokenSpec{Audience: "api://someone-else", Subject: "alice@contoso.com"}))
	// Output:
	// 200  true
	// 401 Bearer realm="" false
	// 401 Bearer realm="", error="invalid_token", error_description="the token's audience (aud) is not this API" false
}

func ExampleContextWithUserAssertion() {
	// Outside Confidential.Middleware (a gRPC interceptor, a queue
	// consumer), put the caller's token in the context yourself, and
	// OnBehalfOfSource finds it.
	ctx := flow.ContextWithUserAssertion(context.Background(), "eyJ0eXAi...")
	assertion, ok := flow.UserAssertionFromContext(ctx)
	fmt.Println(assertion, ok)
	_, ok = flow.UserAssertionFromContext(context.Background())
	fmt.Println(ok)
	// Output:
	// eyJ0eXAi... true
	// false
}

func ExampleWithAllowedTenants() {
	const (
		contoso  = authtest.DefaultTenant
		fabrikam = "11111111-2222-3333-4444-555555555555"
	)
	srv := authtest.NewTLSServer(nil)
	defer srv.Close()
	srv.AddUser(authtest.User{Username: "alice@contoso.com"})
	srv.AddUser(authtest.User{Username: "carol@fabrikam.com", TenantID: fabrikam})
	srv.AddUser(authtest.User{Username: "dan@northwind.com", TenantID: "66666666-7777-8888-9999-000000000000"})
	srv.AddClient(authtest.Client{ID: "orders-api", Secret: "s3cret"})
	srv.AddAPI(authtest.API{Audience: "api://orders", AppID: "orders-api", Scopes: []string{"Orders.Read"}})

	app, err := flow.NewConfidential("orders-api", credential.Secret("s3cret"),
		flow.WithAuthority("https://login.microsoftonline.com/contoso.com"),
		flow.WithHTTPClient(srv.Client()))
	if err != nil {
		log.Fatal(err)
	}
	ok := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	// Contoso's callers only, with v2.0 or v1.0 tokens: {tenantid}
	// stands for the authority's tenant, whatever tenant a token names.
	contosoOnly := app.Middleware(ok, flow.WithAudiences("api://orders"),
		flow.WithIssuers("https://sts.windows.net/{tenantid}/"))
	// Contoso's and Fabrikam's callers.
	both := app.Middleware(ok, flow.WithAudiences("api://orders"),
		flow.WithIssuers("https://login.microsoftonline.com/{tenantid}/v2.0", "https://sts.windows.net/{tenantid}/"),
		flow.WithAllowedTenants(contoso, fabrikam))

	status := func(h http.Handler, token string) int {
		r := httptest.NewRequest(http.MethodGet, "/orders", nil)
		r.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	for _, user := range []string{"alice@contoso.com", "carol@fabrikam.com", "dan@northwind.com"} {
		token := srv.IssueAccessToken(authtest.AccessTokenSpec{Audience: "api://orders", Scopes: []string{"Orders.Read"}, Subject: user})
		fmt.Println(user, status(contosoOnly, token), status(both, token))
	}
	// Output:
	// alice@contoso.com 200 200
	// carol@fabrikam.com 401 200
	// dan@northwind.com 401 401
}

func ExampleErrMalformedAssertion() {
	srv := authtest.NewTLSServer(nil)
	defer srv.Close()
	app, err := flow.NewConfidential("orders-api", credential.Secret("s3cret"),
		flow.WithAuthority("https://login.microsoftonline.com/contoso.com"),
		flow.WithHTTPClient(srv.Client()))
	if err != nil {
		log.Fatal(err)
	}
	// The caller's token with its signature padded: the same bytes as its
	// canonical spelling, but another cache key. It is refused before any
	// request.
	padded := "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl=="
	_, err = app.AcquireTokenOnBehalfOf(context.Background(), padded, []string{"User.Read"})
	fmt.Println(errors.Is(err, flow.ErrMalformedAssertion))
	fmt.Println(err)
	fmt.Println(len(srv.Requests()), "requests")
	// Output:
	// true
	// flow: malformed user assertion: its signature is not canonical base64url (RFC 7515): it has padding ('='), which RFC 7515 leaves out
	// 0 requests
}
