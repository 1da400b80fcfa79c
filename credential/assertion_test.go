package credential_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/bearerhttp/bearer/credential"
)

type ctxKey struct{}

func TestAssertion(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	req := credential.Request{
		ClientID: testClientID, Audience: testAudience, TokenEndpoint: "https://centralus.login.microsoft.com/t/oauth2/v2.0/token",
		Kind: credential.OIDC, Algorithms: []string{"ES256"}, ClientClaims: map[string]any{"a": "b"}, Now: now,
	}
	var got credential.AssertionRequest
	var gotCtx any
	calls := 0
	cred := credential.Assertion(func(ctx context.Context, r credential.AssertionRequest) (string, error) {
		calls++
		got, gotCtx = r, ctx.Value(ctxKey{})
		return "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", nil
	})
	form, header := url.Values{}, http.Header{}
	ctx := context.WithValue(context.Background(), ctxKey{}, "v")
	for range 2 {
		if err := cred.Apply(ctx, req, form, header); err != nil {
			t.Fatal(err)
		}
	}
	if calls != 2 {
		t.Errorf("callback called %d times for 2 Applies, want 2 (no caching)", calls)
	}
	want := credential.AssertionRequest{
		ClientID: testClientID, TokenEndpoint: testAudience, Kind: credential.OIDC,
		Algorithms: []string{"ES256"}, ClientClaims: map[string]any{"a": "b"}, Now: now,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("callback got %+v, want %+v", got, want)
	}
	if gotCtx != "v" {
		t.Error("callback did not get Apply's context")
	}
	if form.Get("client_assertion") != "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln" || form.Get("client_assertion_type") != credential.JWTBearer {
		t.Errorf("form = %v", form)
	}
	if len(header) != 0 {
		t.Errorf("headers set: %v", header)
	}
}

func TestAssertionNowDefaultsToCurrentTime(t *testing.T) {
	var got time.Time
	cred := credential.Assertion(func(_ context.Context, r credential.AssertionRequest) (string, error) {
		got = r.Now
		return "a.b.c", nil
	})
	before := time.Now()
	if err := cred.Apply(context.Background(), credential.Request{}, url.Values{}, http.Header{}); err != nil {
		t.Fatal(err)
	}
	if got.Before(before) || got.After(time.Now()) {
		t.Errorf("Now = %v, want the current time", got)
	}
}

func TestAssertionErrors(t *testing.T) {
	const tok = "eyJhbGciOiJQUzI1NiJ9.eyJzZWNyZXQiOiJ5ZXMifQ.c2lnbmF0dXJl"
	errKMS := errors.New("kms: throttled")
	tests := []struct {
		name string
		fn   func(context.Context, credential.AssertionRequest) (string, error)
		want error
	}{
		{"callback_error_is_wrapped", func(context.Context, credential.AssertionRequest) (string, error) { return "", errKMS }, errKMS},
		{"assertion_returned_with_an_error_is_not_quoted", func(context.Context, credential.AssertionRequest) (string, error) { return tok, errKMS }, errKMS},
		{"context_error_passes_through", func(ctx context.Context, _ credential.AssertionRequest) (string, error) { return "", ctx.Err() }, context.Canceled},
		{"empty_assertion", func(context.Context, credential.AssertionRequest) (string, error) { return "", nil }, credential.ErrEmptyAssertion},
		{"nil_callback", nil, credential.ErrNoCallback},
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			form, header := url.Values{}, http.Header{}
			err := credential.Assertion(tt.fn).Apply(ctx, credential.Request{ClientID: "c", Audience: "a"}, form, header)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if len(form)+len(header) != 0 {
				t.Error("failed Apply changed the request")
			}
			assertNoLeak(t, "error", err.Error(), tok)
		})
	}
}
