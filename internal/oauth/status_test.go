package oauth

import (
	"context"
	"net/http"
	"net/url"
	"testing"
)

// TestTokenStatusCode: a token response carries the HTTP status it came
// with (any 2xx), for the application's trace.
func TestTokenStatusCode(t *testing.T) {
	for _, code := range []int{200, 201, 203} {
		a := newAuthority(t, func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, code, `{"access_token":"at-secret-value","token_type":"Bearer","expires_in":3599}`)
		})
		tok, err := testClient(&sleeps{}).Token(context.Background(), &Request{URL: a.URL + "/token", Form: url.Values{"grant_type": {"client_credentials"}}})
		if err != nil {
			t.Fatal(err)
		}
		if tok.StatusCode != code {
			t.Errorf("StatusCode = %d, want %d", tok.StatusCode, code)
		}
	}
}
