package flow

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

func TestParseUserRealmBrokenInput(t *testing.T) {
	for name, body := range map[string]string{
		"empty":        "",
		"array":        `[{"account_type":"Managed"}]`,
		"not_json":     `account_type=Managed`,
		"wrong_type":   `{"account_type":7}`,
		"truncated":    `{"account_type":"Fed`,
		"string":       `"Managed"`,
		"null":         `null`,
		"nested_wrong": `{"account_type":{"x":1}}`,
	} {
		if _, err := parseUserRealm([]byte(body)); !errors.Is(err, ErrMalformedResponse) {
			t.Errorf("%s: %v, want ErrMalformedResponse", name, err)
		}
	}
	ur, err := parseUserRealm([]byte(`{"ver":"1.0","account_type":"Federated","domain_name":"fabrikam.com","federation_protocol":"WSTrust","extra":[1]}`))
	if err != nil || ur.AccountType != "Federated" || ur.FederationProtocol != "WSTrust" || ur.DomainName != "fabrikam.com" {
		t.Errorf("%+v %v", ur, err)
	}
}

func FuzzParseUserRealm(f *testing.F) {
	for _, s := range []string{`{"account_type":"Managed"}`, `{"account_type":"Federated","federation_protocol":"WSTrust"}`, `{}`, `[]`, `{"account_type":1}`, ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ur, err := parseUserRealm(body)
		if err != nil {
			if !errors.Is(err, ErrMalformedResponse) || strings.Contains(err.Error(), string(body)) && len(body) > 8 {
				t.Fatalf("error %v", err)
			}
			return
		}
		_ = ur.AccountType
	})
}

func TestAuthResponseBrokenInput(t *testing.T) {
	long := strings.Repeat("d", 2000)
	tests := []struct {
		name  string
		query string
		want  error // nil: an *Error
	}{
		{"no_state", "code=c", ErrStateMismatch},
		{"empty_state", "state=&code=c", ErrStateMismatch},
		{"other_state", "state=s2&code=c", ErrStateMismatch},
		{"state_prefix", "state=s&code=c", ErrStateMismatch},
		{"state_twice", "state=s1&state=s2&code=c", ErrStateMismatch},
		{"no_code", "state=s1", ErrInvalidAuthResponse},
		{"empty_code", "state=s1&code=", ErrInvalidAuthResponse},
		{"code_twice", "state=s1&code=a&code=b", ErrInvalidAuthResponse},
		{"error", "state=s1&error=access_denied&error_description=" + long + "%00%0a", nil},
		{"error_twice", "state=s1&error=a&error=b", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, _ := url.ParseQuery(tt.query)
			_, err := authResponse("s1", q)
			if tt.want != nil {
				if !errors.Is(err, tt.want) {
					t.Errorf("%v, want %v", err, tt.want)
				}
				return
			}
			var fe *Error
			if !errors.As(err, &fe) || fe.Code == "" || len(fe.Description) > maxResponseField+4 || strings.ContainsAny(fe.Description, "\x00\n") {
				t.Errorf("%v (%#v)", err, fe)
			}
		})
	}
	if _, err := authResponse("", url.Values{"state": {""}, "code": {"c"}}); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("a flow without state: %v", err)
	}
	if code, err := authResponse("s1", url.Values{"state": {"s1"}, "code": {"the-code"}, "session_state": {"x"}}); err != nil || code != "the-code" {
		t.Errorf("a good response: %q %v", code, err)
	}
}
