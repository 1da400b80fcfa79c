package bearer_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/bearerhttp/bearer"
)

// ExampleTransport shows a resource revoking a token with a claims
// challenge, and the transport recovering: a new token with the claims,
// and the request sent again with its body.
func ExampleTransport() {
	tokens := 0
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Printf("resource: %s %s with %q\n", r.Method, body, r.Header.Get("Authorization"))
		if r.Header.Get("Authorization") == "Bearer token-1" {
			w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_claims", claims="eyJhY2Nlc3NfdG9rZW4iOnsibmJmIjp7ImVzc2VudGlhbCI6dHJ1ZSwidmFsdWUiOiIxNzI2MDc3NTk1In19fQ=="`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, "sent")
	}))
	defer srv.Close()

	src := bearer.TokenSourceFunc(func(ctx context.Context, req bearer.TokenRequest) (bearer.Token, error) {
		tokens++
		if req.Claims == "" {
			fmt.Printf("source: token for %v\n", req.Scopes)
		} else {
			fmt.Printf("source: token for %v with claims %s\n", req.Scopes, req.Claims)
		}
		return bearer.Token{AccessToken: fmt.Sprintf("token-%d", tokens), ExpiresOn: time.Now().Add(time.Hour)}, nil
	})
	client := &http.Client{Transport: &bearer.Transport{
		Source: bearer.ReuseTokenSource(src),
		Scopes: []string{"https://graph.microsoft.com/.default"},
		// The test server runs on 127.0.0.1; in production the scopes
		// decide the allowed hosts (graph.microsoft.com here).
		AllowedHosts: []string{"127.0.0.1"},
		Base:         srv.Client().Transport,
	}}
	resp, err := client.Post(srv.URL+"/v1.0/me/sendMail", "application/json", strings.NewReader(`{"subject":"hi"}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(b))
	// Output:
	// source: token for [https://graph.microsoft.com/.default]
	// resource: POST {"subject":"hi"} with "Bearer token-1"
	// source: token for [https://graph.microsoft.com/.default] with claims {"access_token":{"nbf":{"essential":true,"value":"1726077595"}}}
	// resource: POST {"subject":"hi"} with "Bearer token-2"
	// 200 sent
}

// ExampleTransport_allowedHosts allows one host on one port: the token
// goes to that server only, not to another port of the same host, asked
// for directly or reached through a redirect. (A redirect keeps the token
// only on the first request's origin in any case, even between allowed
// hosts, unless RedirectsBetweenAllowedHosts is set.)
func ExampleTransport_allowedHosts() {
	show := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			fmt.Printf("%s: %s with a token: %v\n", name, r.URL.Path, r.Header.Get("Authorization") != "")
		}
	}
	other := httptest.NewTLSServer(show("other port"))
	defer other.Close()
	api := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		show("api")(w, r)
		if r.URL.Path == "/moved" {
			http.Redirect(w, r, other.URL+"/landing", http.StatusFound)
		}
	}))
	defer api.Close()

	src := bearer.TokenSourceFunc(func(ctx context.Context, req bearer.TokenRequest) (bearer.Token, error) {
		return bearer.Token{AccessToken: "token", ExpiresOn: time.Now().Add(time.Hour)}, nil
	})
	client := &http.Client{Transport: &bearer.Transport{
		Source:       bearer.ReuseTokenSource(src),
		Scopes:       []string{"api://my-api/.default"},
		AllowedHosts: []string{api.Listener.Addr().String()}, // "127.0.0.1:port"
		Base:         api.Client().Transport,
	}}
	for _, url := range []string{api.URL + "/data", other.URL + "/data", api.URL + "/moved"} {
		resp, err := client.Get(url)
		if err != nil {
			fmt.Println(err)
			return
		}
		resp.Body.Close()
	}
	// Output:
	// api: /data with a token: true
	// other port: /data with a token: false
	// api: /moved with a token: true
	// other port: /landing with a token: false
}

func ExampleReuseTokenSource() {
	calls := 0
	src := bearer.ReuseTokenSource(bearer.TokenSourceFunc(func(ctx context.Context, req bearer.TokenRequest) (bearer.Token, error) {
		calls++
		return bearer.Token{AccessToken: "secret", ExpiresOn: time.Now().Add(time.Hour)}, nil
	}))
	ctx := context.Background()
	req := bearer.TokenRequest{Scopes: []string{"https://vault.azure.net/.default"}}
	for range 3 {
		tok, _ := src.Token(ctx, req)
		fmt.Printf("%+v\n", tok.AccessToken != "")
	}
	fmt.Println("calls to the source:", calls)

	// A claims challenge skips the cache; its token replaces the cached one.
	src.Token(ctx, bearer.TokenRequest{Scopes: req.Scopes, Claims: `{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`})
	fmt.Println("calls to the source:", calls)
	// Output:
	// true
	// true
	// true
	// calls to the source: 1
	// calls to the source: 2
}

func ExampleToken_Format() {
	tok := bearer.Token{AccessToken: "eyJ0eXAi...", TokenType: "Bearer", Scopes: []string{"User.Read"}}
	fmt.Printf("%+v\n", tok)
	// Output:
	// {AccessToken:REDACTED TokenType:Bearer ExpiresOn:0001-01-01 00:00:00 +0000 UTC RefreshOn:0001-01-01 00:00:00 +0000 UTC Scopes:[User.Read]}
}
