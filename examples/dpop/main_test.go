package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestDPoP runs the example and checks that each step printed what it
// promises: a nonce retry at the token endpoint and at the API, a cached
// call without a challenge, and the three thefts refused, without ever
// printing a token or a proof.
func TestDPoP(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	got := out.String()
	for _, want := range []string{
		"(token request + DPoP proof)\n   <- 400 Bad Request (with a DPoP-Nonce)",
		`<- 401 Unauthorized DPoP error="use_dpop_nonce"`,
		`replay the captured request as it is:
   -> GET /resource/orders (DPoP token + DPoP proof)
   <- 401 Unauthorized DPoP error="invalid_dpop_proof"`,
		`present the token as a bearer token:
   -> GET /resource/orders (Bearer token)
   <- 401 Unauthorized DPoP error="invalid_token"`,
		`sign a fresh proof with its own key:
   -> GET /resource/orders (DPoP token + DPoP proof)
   <- 401 Unauthorized DPoP error="invalid_token"`,
		"Done: 2 token requests, 2 accepted calls; the stolen token was refused 3 times.",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if n := strings.Count(got, "<- 200 OK"); n != 4 { // discovery, token, two calls
		t.Errorf("%d answers 200, want 4:\n%s", n, got)
	}
	for _, secret := range []string{clientSecret, "eyJ"} {
		if strings.Contains(got, secret) {
			t.Errorf("output shows a secret or a JWT (%q):\n%s", secret, got)
		}
	}
}
