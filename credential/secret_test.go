package credential_test

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/bearerhttp/bearer/credential"
)

func TestSecret(t *testing.T) {
	const secret = "s3cr3t~value with spaces+/=&%:"
	const id = "client:id with+plus"
	tests := []struct {
		name      string
		methods   []string
		wantBasic bool
	}{
		{"form_when_methods_unknown", nil, false},
		{"form_when_post_accepted", []string{"client_secret_post", "private_key_jwt"}, false},
		{"form_when_both_accepted", []string{"client_secret_basic", "client_secret_post"}, false},
		{"basic_when_only_basic_accepted", []string{"client_secret_basic", "private_key_jwt"}, true},
		{"form_when_neither_is_listed", []string{"private_key_jwt", "tls_client_auth"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			form, header := url.Values{"client_id": {id}}, http.Header{}
			err := credential.Secret(secret).Apply(context.Background(), credential.Request{ClientID: id, AuthMethods: tt.methods}, form, header)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.wantBasic {
				if got := form.Get("client_secret"); got != secret {
					t.Errorf("client_secret = %q, want the secret", got)
				}
				if len(header) != 0 {
					t.Errorf("headers set: %v", header)
				}
				return
			}
			if form.Has("client_secret") {
				t.Error("client_secret in the form as well as in Basic auth")
			}
			// RFC 6749 section 2.3.1: each form-urlencoded, then Basic.
			auth := header.Get("Authorization")
			raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(auth, "Basic "))
			if !strings.HasPrefix(auth, "Basic ") || err != nil {
				t.Fatalf("Authorization = %q, want Basic credentials", auth)
			}
			want := url.QueryEscape(id) + ":" + url.QueryEscape(secret)
			if string(raw) != want {
				t.Errorf("Basic user:password = %q, want %q", raw, want)
			}
			if strings.Count(string(raw), ":") != 1 {
				t.Error("a colon in the client ID or secret was not escaped")
			}
		})
	}
}

func TestSecretErrors(t *testing.T) {
	empty := credential.Secret("")
	if err := credential.Validate(empty); !errors.Is(err, credential.ErrEmptySecret) {
		t.Errorf("Validate(Secret(\"\")) = %v, want ErrEmptySecret", err)
	}
	form, header := url.Values{}, http.Header{}
	if err := empty.Apply(context.Background(), credential.Request{ClientID: "c"}, form, header); !errors.Is(err, credential.ErrEmptySecret) {
		t.Errorf("Apply = %v, want ErrEmptySecret", err)
	}
	if len(form)+len(header) != 0 {
		t.Error("failed Apply changed the request")
	}
	err := credential.Secret("the-secret-value").Apply(context.Background(),
		credential.Request{AuthMethods: []string{"client_secret_basic"}}, form, header)
	if !errors.Is(err, credential.ErrIncompleteRequest) {
		t.Errorf("Basic without client ID: err = %v, want ErrIncompleteRequest", err)
	}
	assertNoLeak(t, "error", err.Error(), "the-secret-value")
	if len(form)+len(header) != 0 {
		t.Error("failed Apply changed the request")
	}
	if err := credential.Validate(credential.Secret("x")); err != nil {
		t.Errorf("Validate(Secret(\"x\")) = %v", err)
	}
}

// plainCredential has no Validate method.
type plainCredential struct{}

func (plainCredential) Apply(context.Context, credential.Request, url.Values, http.Header) error {
	return nil
}

func TestValidate(t *testing.T) {
	if err := credential.Validate(nil); !errors.Is(err, credential.ErrNoCredential) {
		t.Errorf("Validate(nil) = %v, want ErrNoCredential", err)
	}
	if err := credential.Validate(plainCredential{}); err != nil {
		t.Errorf("Validate of a credential without a Validate method = %v, want nil", err)
	}
	if err := credential.Validate(credential.Assertion(nil)); !errors.Is(err, credential.ErrNoCallback) {
		t.Errorf("Validate(Assertion(nil)) = %v, want ErrNoCallback", err)
	}
	if err := credential.Validate(credential.AssertionFile("")); !errors.Is(err, credential.ErrEmptyAssertion) {
		t.Errorf("Validate(AssertionFile(\"\")) = %v, want ErrEmptyAssertion", err)
	}
	if err := credential.Validate(credential.AssertionFile("/does/not/exist/yet")); err != nil {
		t.Errorf("Validate of an assertion file that is not there yet = %v, want nil (it may be mounted later)", err)
	}
}

// TestSecretOverHTTP sends what Apply fills in to a loopback token
// endpoint, which reads the secret back as a server does.
func TestSecretOverHTTP(t *testing.T) {
	const id, secret = "app id", "pa:ss wörd+/="
	for _, methods := range [][]string{nil, {"client_secret_basic"}} {
		srv := newFormServer(t, func(r *http.Request) error {
			if err := r.ParseForm(); err != nil {
				return err
			}
			gotID, gotSecret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
			if u, p, ok := r.BasicAuth(); ok {
				var err1, err2 error
				gotID, err1 = url.QueryUnescape(u)
				gotSecret, err2 = url.QueryUnescape(p)
				if err := errors.Join(err1, err2); err != nil {
					return err
				}
				if r.PostForm.Has("client_secret") {
					return errors.New("secret sent twice")
				}
			}
			if gotID != id || gotSecret != secret {
				return errors.New("wrong client ID or secret")
			}
			return nil
		})
		postForm(t, srv, credential.Secret(secret), credential.Request{ClientID: id, AuthMethods: methods})
	}
}

func TestAuthorityKindString(t *testing.T) {
	for k, want := range map[credential.AuthorityKind]string{
		credential.Entra: "Entra", credential.ADFS: "ADFS", credential.OIDC: "OIDC", 7: "AuthorityKind(7)",
	} {
		if got := k.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(k), got, want)
		}
	}
}
