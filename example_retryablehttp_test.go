package bearer_test

import (
	"fmt"
	"net/http"
	"time"

	"github.com/bearerhttp/bearer"
	"github.com/bearerhttp/bearer/authtest"
	"github.com/bearerhttp/bearer/credential"
	"github.com/bearerhttp/bearer/flow"
	"github.com/hashicorp/go-retryablehttp"
)

// Example_retryablehttp retries a resource's throttling with
// go-retryablehttp, with bearer.Transport as its client's transport: the
// retry client waits out 429 and 503 (honouring Retry-After), and since the
// transport asks its source on every attempt, each retry carries a token
// that is valid when it is sent. Claims challenges are answered by the
// transport inside an attempt; the retry client never sees them.
func Example_retryablehttp() {
	// A local authority posing as login.microsoftonline.com and
	// graph.microsoft.com, whose Graph throttles the first request.
	srv, err := authtest.Start(authtest.WithTLS())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	srv.AddClient(authtest.Client{ID: "my-daemon", Secret: "s3cret"})
	srv.InjectFaults(1, authtest.Fault{Endpoint: authtest.EndpointResource, Status: http.StatusTooManyRequests, RetryAfter: "1"})

	app, err := flow.NewConfidential("my-daemon", credential.Secret("s3cret"),
		flow.WithAuthority("https://login.microsoftonline.com/contoso.com"),
		flow.WithCapabilities("cp1"),
		flow.WithHTTPClient(srv.Client())) // leave out against Entra ID
	if err != nil {
		fmt.Println(err)
		return
	}
	client := &retryablehttp.Client{
		HTTPClient: &http.Client{Transport: &bearer.Transport{
			Source: app.ClientSource(),
			Scopes: []string{"https://graph.microsoft.com/.default"},
			Base:   srv.Client().Transport, // leave out against Entra ID
		}},
		RetryMax:     3,
		RetryWaitMin: time.Second,
		RetryWaitMax: 30 * time.Second,
		CheckRetry:   retryablehttp.DefaultRetryPolicy,
		Backoff: func(min, max time.Duration, attempt int, resp *http.Response) time.Duration {
			wait := retryablehttp.DefaultBackoff(min, max, attempt, resp) // Retry-After on 429 and 503
			if resp != nil {
				fmt.Printf("%s: retrying in %v\n", resp.Status, wait)
			}
			return wait
		},
	}
	resp, err := client.Get("https://graph.microsoft.com/v1.0/users")
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println(resp.Status)
	// Output:
	// 429 Too Many Requests: retrying in 1s
	// 200 OK
}
