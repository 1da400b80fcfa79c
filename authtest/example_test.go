package authtest_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/bearerhttp/bearer/authtest"
)

// A test of your own code: a function that gets an app-only token with
// client credentials and lists the users of a tenant through Microsoft
// Graph. The test points it at the server instead of Entra and Graph.
func Example() {
	srv := authtest.NewServer(nil) // in a test: authtest.NewServer(t)
	defer srv.Close()
	srv.AddClient(authtest.Client{ID: "my-daemon", Secret: "s3cret"})
	srv.AddUser(authtest.User{Username: "alice@contoso.com", Password: "pw"})
	srv.AddUser(authtest.User{Username: "bob@contoso.com", Password: "pw"})

	// The code under test, configured with an authority, a Graph base URL
	// and an HTTP client.
	listUsers := func(c *http.Client, authority, graph string) ([]string, error) {
		resp, err := c.PostForm(authority+"/oauth2/v2.0/token", url.Values{
			"grant_type":    {"client_credentials"},
			"client_id":     {"my-daemon"},
			"client_secret": {"s3cret"},
			"scope":         {"https://graph.microsoft.com/.default"},
		})
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil {
			return nil, err
		}
		req, _ := http.NewRequest("GET", graph+"/v1.0/users", nil)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		resp, err = c.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		var users struct {
			Value []struct{ UserPrincipalName string }
		}
		err = json.NewDecoder(resp.Body).Decode(&users)
		var names []string
		for _, u := range users.Value {
			names = append(names, u.UserPrincipalName)
		}
		return names, err
	}

	names, err := listUsers(srv.Client(), srv.Authority("contoso.com"), srv.URL)
	fmt.Println(names, err)
	fmt.Println("token requests:", srv.TokenRequests())
	// Output:
	// [alice@contoso.com bob@contoso.com] <nil>
	// token requests: 1
}

// In TLS mode the server answers for Entra's and Graph's real host names
// through its Client, so code that uses the real URLs (and regional
// hosts) runs unchanged.
func Example_tls() {
	srv := authtest.NewTLSServer(nil)
	defer srv.Close()
	srv.AddClient(authtest.Client{ID: "my-daemon", Secret: "s3cret"})

	resp, err := srv.Client().PostForm("https://westus2.login.microsoft.com/"+authtest.DefaultTenant+"/oauth2/v2.0/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {"my-daemon"}, "client_secret": {"s3cret"},
		"scope": {"https://graph.microsoft.com/.default"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	last := srv.RequestsTo(authtest.EndpointToken)[0]
	fmt.Println(resp.StatusCode, last.Host)
	fmt.Println(srv.Issuer(authtest.DefaultTenant))
	// Output:
	// 200 westus2.login.microsoft.com
	// https://login.microsoftonline.com/0a3c1ef9-170f-4ae3-a5fc-db742f13f25a/v2.0
}

// A middle tier that validates incoming tokens can be tested with tokens
// minted directly, for any audience, scopes, roles and lifetime.
func ExampleServer_IssueAccessToken() {
	srv := authtest.NewServer(nil)
	defer srv.Close()
	srv.AddUser(authtest.User{Username: "alice@contoso.com"})
	tok := srv.IssueAccessToken(authtest.AccessTokenSpec{
		Audience: "api://orders",
		Subject:  "alice@contoso.com",
		Scopes:   []string{"Orders.Read"},
	})
	// The middle tier would check it against the JWKS at
	// srv.Authority(tenant)+"/discovery/v2.0/keys"; Verify does the same.
	claims, err := srv.Verify(tok)
	fmt.Println(claims["aud"], claims["scp"], claims["preferred_username"], err)
	// Output: api://orders Orders.Read alice@contoso.com <nil>
}

// Revoke makes the resource answer tokens of CAE-capable clients (cp1)
// with a claims challenge; a token requested with those claims passes.
func ExampleServer_Revoke() {
	srv := authtest.NewServer(nil)
	defer srv.Close()
	srv.AddClient(authtest.Client{ID: "app", Secret: "s"})
	getToken := func(claims string) string {
		resp, err := srv.Client().PostForm(srv.Authority("contoso.com")+"/oauth2/v2.0/token", url.Values{
			"grant_type": {"client_credentials"}, "client_id": {"app"}, "client_secret": {"s"},
			"scope": {"https://graph.microsoft.com/.default"}, "claims": {claims},
		})
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&tok)
		return tok.AccessToken
	}
	call := func(tok string) *http.Response {
		req, _ := http.NewRequest("GET", srv.URL+"/v1.0/users", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := srv.Client().Do(req)
		if err != nil {
			panic(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}

	tok := getToken(`{"access_token":{"xms_cc":{"values":["cp1"]}}}`)
	srv.Revoke("app")
	resp := call(tok)
	h := resp.Header.Get("WWW-Authenticate")
	fmt.Println(resp.StatusCode, strings.Contains(h, `error="insufficient_claims"`))
	_, c, _ := strings.Cut(h, `claims="`)
	c, _, _ = strings.Cut(c, `"`)
	claims, _ := base64.StdEncoding.DecodeString(c)

	// The client merges its capabilities into the challenge's claims.
	merged := strings.TrimSuffix(string(claims), "}}") + `,"xms_cc":{"values":["cp1"]}}}`
	fmt.Println(call(getToken(merged)).StatusCode)
	// Output:
	// 401 true
	// 200
}

// InjectFaults makes the next token requests fail, to test retries.
func ExampleServer_InjectFaults() {
	srv := authtest.NewServer(nil)
	defer srv.Close()
	srv.AddClient(authtest.Client{ID: "app", Secret: "s"})
	srv.InjectFaults(2, authtest.Fault{Status: http.StatusServiceUnavailable, RetryAfter: "1"})

	for range 3 {
		resp, err := srv.Client().PostForm(srv.Authority("contoso.com")+"/oauth2/v2.0/token", url.Values{
			"grant_type": {"client_credentials"}, "client_id": {"app"}, "client_secret": {"s"},
			"scope": {"https://graph.microsoft.com/.default"},
		})
		if err != nil {
			fmt.Println(err)
			return
		}
		resp.Body.Close()
		fmt.Println(resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// Output:
	// 503 1
	// 503 1
	// 200
}

// The device code flow: the test plays the user with ApproveDeviceCode.
func ExampleServer_ApproveDeviceCode() {
	srv := authtest.NewServer(nil)
	defer srv.Close()
	srv.AddClient(authtest.Client{ID: "cli", Public: true})
	srv.AddUser(authtest.User{Username: "alice@contoso.com", Password: "pw"})

	resp, err := srv.Client().PostForm(srv.Authority("organizations")+"/oauth2/v2.0/devicecode", url.Values{
		"client_id": {"cli"}, "scope": {"User.Read offline_access"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	var dc struct {
		DeviceCode string `json:"device_code"`
		UserCode   string `json:"user_code"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&dc)
	resp.Body.Close()

	poll := func() string {
		resp, err := srv.Client().PostForm(srv.Authority("organizations")+"/oauth2/v2.0/token", url.Values{
			"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "client_id": {"cli"}, "device_code": {dc.DeviceCode},
		})
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		var r map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&r)
		if e, ok := r["error"].(string); ok {
			return e
		}
		return "token"
	}
	fmt.Println(poll())
	fmt.Println(srv.ApproveDeviceCode(dc.UserCode, "alice@contoso.com"))
	fmt.Println(poll())
	// Output:
	// authorization_pending
	// <nil>
	// token
}
