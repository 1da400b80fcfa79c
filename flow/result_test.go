package flow

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/bearerhttp/bearer"
	"github.com/bearerhttp/bearer/internal/oauth"
)

func TestResultHidesSecretsAndPII(t *testing.T) {
	r := Result{
		Token: bearer.Token{AccessToken: "at-SECRET-eyJ0", TokenType: "Bearer", ExpiresOn: t0, RefreshOn: t0.Add(-time.Hour),
			Scopes: []string{"api://x/read"}},
		IDToken:       "idt-SECRET-eyJ0",
		IDTokenClaims: map[string]any{"preferred_username": "alice@contoso.com", "oid": "oid-PII-1234"},
		Account: Account{HomeAccountID: "oid-PII-1234.tid", Environment: "login.microsoftonline.com", TenantID: "tid-PII",
			Username: "alice@contoso.com", LocalAccountID: "oid-PII-1234", Name: "Alice Liddell", AuthorityType: AuthorityTypeMSSTS},
		FromCache: true,
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("result", "r", r, "account", r.Account)
	texts := []string{
		r.String(), r.GoString(), fmt.Sprint(r), fmt.Sprintf("%v|%+v|%#v|%s|%q|%x", r, r, r, r, r, r),
		fmt.Sprint(r.Account), fmt.Sprintf("%+v %#v", r.Account, r.Account), buf.String(),
		fmt.Sprintf("%v", &r), fmt.Sprintf("%+v", []Result{r}),
	}
	for _, text := range texts {
		for _, secret := range []string{"SECRET", "PII", "alice", "Alice"} {
			if strings.Contains(text, secret) {
				t.Errorf("%q shows %s", text, secret)
			}
		}
	}
	for _, want := range []string{"REDACTED", "api://x/read", "FromCache:true", "[oid preferred_username]", "login.microsoftonline.com"} {
		if !strings.Contains(r.String(), want) {
			t.Errorf("String() = %s lacks %s", r.String(), want)
		}
	}
	if !strings.Contains(buf.String(), "from_cache=true") || !strings.Contains(buf.String(), "r.id_token=true") {
		t.Errorf("log: %s", buf.String())
	}
	if s := fmt.Sprint(Result{}); strings.Contains(s, "REDACTED") {
		t.Errorf("an empty result shows redactions: %s", s)
	}
	if (Account{}).String() != "flow.Account{}" || !(Account{}).IsZero() || r.Account.IsZero() {
		t.Error("the zero Account")
	}
}

func jwtOf(payload string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + enc([]byte(payload)) + ".c2ln"
}

func TestJWTClaims(t *testing.T) {
	good := jwtOf(`{"sub":"s","tid":"t","exp":1700000000,"aud":["a","b"]}`)
	claims, err := jwtClaims(good)
	if err != nil || claims["sub"] != "s" || claims["exp"] != float64(1700000000) {
		t.Fatalf("claims %v: %v", claims, err)
	}
	if c, err := jwtClaims(strings.Replace(good, ".", "=.", 2)); !errors.Is(err, errMalformedJWT) || c != nil {
		t.Errorf("padded segments (RFC 7515 has none): %v, %v", c, err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	tests := []struct{ name, token string }{
		{"empty", ""},
		{"one_part", "abc"},
		{"two_parts", "abc.def"},
		{"four_parts", good + ".x"},
		{"payload_not_base64", "a.!!!.c"},
		{"payload_not_json", "a." + enc([]byte("not json")) + ".c"},
		{"payload_array", "a." + enc([]byte(`["sub"]`)) + ".c"},
		{"payload_string", "a." + enc([]byte(`"sub"`)) + ".c"},
		{"payload_truncated", "a." + enc([]byte(`{"sub":"s"`)) + ".c"},
		{"payload_trailing_data", "a." + enc([]byte(`{"sub":"s"} {}`)) + ".c"},
		{"too_large", "a." + strings.Repeat("A", maxJWTBytes) + ".c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := jwtClaims(tt.token)
			if !errors.Is(err, errMalformedJWT) || c != nil {
				t.Errorf("jwtClaims = %v, %v", c, err)
			}
			if len(tt.token) > 8 && strings.Contains(fmt.Sprint(err), tt.token) {
				t.Error("the error quotes the token")
			}
		})
	}
}

func FuzzJWTClaims(f *testing.F) {
	f.Add(jwtOf(`{"sub":"s","tid":"t","preferred_username":"u@x","oid":"o","name":"N"}`))
	f.Add(jwtOf(`{}`))
	f.Add(jwtOf(`{"sub":1e400}`))
	f.Add("a.b.c")
	f.Add("..")
	f.Fuzz(func(t *testing.T, token string) {
		claims, err := jwtClaims(token)
		if err != nil {
			if claims != nil || !errors.Is(err, errMalformedJWT) {
				t.Fatalf("claims %v with error %v", claims, err)
			}
			return
		}
		if claims == nil {
			t.Fatal("no claims and no error")
		}
		ep := &endpoints{environment: "login.microsoftonline.com", authority: authority{kind: kindEntra, tenant: "t"}}
		a := newAccount(ep, oauth.ClientInfo{}, claims)
		if a.HomeAccountID == "" && !a.IsZero() {
			t.Fatalf("an account without a home account ID: %+v", a)
		}
	})
}
