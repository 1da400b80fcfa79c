package credential_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/bearerhttp/bearer/credential"
)

// newFormServer starts a loopback token endpoint that answers 200 when
// check accepts the request and 400 with check's error otherwise.
func newFormServer(t *testing.T, check func(*http.Request) error) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := check(r); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// postForm authenticates a token request with cred, as package flow does,
// posts it to srv and fails the test unless srv accepts it.
func postForm(t *testing.T, srv *httptest.Server, cred credential.Credential, req credential.Request) {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {req.ClientID}, "scope": {"api://x/.default"}}
	header := http.Header{}
	if err := cred.Apply(context.Background(), req, form, header); err != nil {
		t.Fatal(err)
	}
	hr, err := http.NewRequestWithContext(context.Background(), http.MethodPost, srv.URL, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	hr.Header = header
	hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := srv.Client().Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token endpoint refused the request: %s %s", resp.Status, body)
	}
}
