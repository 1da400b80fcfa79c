// Command dpop shows DPoP-bound tokens (RFC 9449) end to end: a daemon
// gets an access token bound to a key of its own and calls a resource
// with it, each request carrying a fresh proof signed with the key; the
// authority and the resource demand nonces, which the library answers by
// itself. Then a thief who captured a request tries the token: replaying
// the request, presenting the token as a bearer token, and signing a
// proof with a key of its own. Each attempt is refused.
//
// It needs no identity provider: it starts authtest, bearer's local
// authority, in-process with DPoP on, on a loopback address:
//
//	go run ./examples/dpop
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/bearerhttp/bearer"
	"github.com/bearerhttp/bearer/authtest"
	"github.com/bearerhttp/bearer/challenge"
	"github.com/bearerhttp/bearer/credential"
	"github.com/bearerhttp/bearer/flow"
	"github.com/bearerhttp/bearer/internal/dpop"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "dpop:", err)
		os.Exit(1)
	}
}

const (
	clientID = "orders-daemon"
	// A made-up secret for the local authority. Real secrets come from a
	// vault or the environment, never from source code.
	clientSecret = "dpop-example-not-a-real-secret"
	ordersAPI    = "api://orders"
)

func run(ctx context.Context, w io.Writer) error {
	say := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }

	// The local authority (its plain OpenID Connect shape, with DPoP on)
	// and its protected resource; both demand DPoP nonces.
	srv, err := authtest.Start(authtest.WithDPoP())
	if err != nil {
		return err
	}
	defer srv.Close()
	srv.AddClient(authtest.Client{ID: clientID, Secret: clientSecret, Name: "orders daemon"})
	srv.AddAPI(authtest.API{Audience: ordersAPI, Roles: []string{"Orders.Read.All"}})
	srv.RequireDPoPNonce(authtest.EndpointToken, authtest.EndpointResource)
	orders := srv.URL + "/resource/orders"
	say("1. A local authority with DPoP, and its orders API, are up at %s.", srv.URL)

	// The daemon's DPoP key. Any crypto.Signer will do: a key kept in a
	// KMS or an HSM works the same, as only its Sign method is called.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	wire := &tracer{base: http.DefaultTransport, w: w}
	app, err := flow.NewConfidential(clientID, credential.Secret(clientSecret),
		flow.WithOIDCAuthority(srv.OIDCIssuer()),
		flow.WithDPoP(key),
		flow.WithHTTPClient(&http.Client{Transport: wire}),
	)
	if err != nil {
		return err
	}
	ok, err := app.SupportsDPoP(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("the authority does not list dpop_signing_alg_values_supported")
	}
	say("2. A confidential client whose tokens are bound to its P-256 key; the authority supports DPoP.")

	client := &http.Client{Transport: &bearer.Transport{
		Source:       app.ClientSource(),
		Scopes:       []string{ordersAPI + "/.default"},
		Base:         wire,
		AllowedHosts: []string{"127.0.0.1"},
	}}
	say("3. Call the orders API. The authority wants a nonce, then binds the token to the key;")
	say("   the API wants a nonce of its own. The library answers both by itself:")
	if err := call(ctx, client, orders); err != nil {
		return err
	}
	say("4. Again: the token comes from the cache and the API's nonce is remembered,")
	say("   so one request with a fresh proof is all it takes:")
	if err := call(ctx, client, orders); err != nil {
		return err
	}

	stolen := wire.lastTokenRequest()
	if stolen == nil {
		return fmt.Errorf("no request with a token was seen")
	}
	tok := strings.TrimPrefix(stolen.Get("Authorization"), "DPoP ")
	say("5. A thief captured that request, token and proof. What can it do with them?")
	refused := 0
	try := func(what string, h http.Header) error {
		say("   %s:", what)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, orders, nil)
		if err != nil {
			return err
		}
		req.Header = h
		resp, err := (&http.Client{Transport: wire}).Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			return fmt.Errorf("the API accepted a stolen token (%s)", resp.Status)
		}
		refused++
		return nil
	}
	if err := try("replay the captured request as it is", stolen.Clone()); err != nil {
		return err
	}
	if err := try("present the token as a bearer token", http.Header{"Authorization": {"Bearer " + tok}}); err != nil {
		return err
	}
	// The thief signs a proof of its own, for this very request, with the
	// nonce the API handed out. (Built here with bearer's own signer for
	// brevity; any DPoP library would do.)
	thiefKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	thief, err := dpop.New(thiefKey, "")
	if err != nil {
		return err
	}
	req, _ := http.NewRequest(http.MethodGet, orders, nil)
	proof, err := thief.Proof(http.MethodGet, req.URL, time.Now(), srv.DPoPNonce(authtest.EndpointResource), tok)
	if err != nil {
		return err
	}
	if err := try("sign a fresh proof with its own key", http.Header{"Authorization": {"DPoP " + tok}, "Dpop": {proof}}); err != nil {
		return err
	}

	tokens := srv.TokenRequests()
	accepted := 0
	for _, r := range srv.RequestsTo(authtest.EndpointResource) {
		if r.Status == http.StatusOK {
			accepted++
		}
	}
	say("Done: %d token requests, %d accepted calls; the stolen token was refused %d times.", tokens, accepted, refused)
	if tokens != 2 || accepted != 2 || refused != 3 {
		return fmt.Errorf("expected 2 token requests (one nonce retry), 2 accepted calls and 3 refusals")
	}
	return nil
}

// call GETs u and checks the answer.
func call(ctx context.Context, c *http.Client, u string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return nil
}

// tracer is an http.RoundTripper that prints each exchange: the request's
// method and path, the scheme of its token, whether it carries a proof,
// and the answer's status, error and nonce. It never prints a token, a
// proof or a nonce value. It keeps the header of the last request that
// carried a token, which the example's thief steals.
type tracer struct {
	base http.RoundTripper
	w    io.Writer

	mu   sync.Mutex
	last http.Header
}

func (t *tracer) RoundTrip(req *http.Request) (*http.Response, error) {
	what := "no token"
	switch {
	case strings.HasSuffix(req.URL.Path, "/token"):
		what = "token request"
	case req.Header.Get("Authorization") != "":
		scheme, _, _ := strings.Cut(req.Header.Get("Authorization"), " ")
		what = scheme + " token"
		t.mu.Lock()
		t.last = req.Header.Clone()
		t.mu.Unlock()
	}
	if req.Header.Get("DPoP") != "" {
		what += " + DPoP proof"
	}
	fmt.Fprintf(t.w, "   -> %s %s (%s)\n", req.Method, req.URL.Path, what)
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		fmt.Fprintf(t.w, "   <- error: %v\n", err)
		return nil, err
	}
	line := "   <- " + resp.Status
	for _, c := range challenge.FromResponse(resp) {
		if e := c.Param("error"); e != "" {
			line += fmt.Sprintf(" %s error=%q", c.Scheme, e)
		}
	}
	if resp.Header.Get("DPoP-Nonce") != "" {
		line += " (with a DPoP-Nonce)"
	}
	fmt.Fprintln(t.w, line)
	return resp, nil
}

// lastTokenRequest returns the header of the last request that carried a
// token.
func (t *tracer) lastTokenRequest() http.Header {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.last
}
