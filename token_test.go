package bearer

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestTokenFormattingRedacts(t *testing.T) {
	const secret = "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0.c2ln"
	tok := Token{AccessToken: secret, TokenType: "Bearer", ExpiresOn: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC), Scopes: []string{"User.Read"}}.withAuthorization()
	if tok.Authorization != "Bearer "+secret {
		t.Fatalf("Authorization %q", tok.Authorization)
	}
	outs := map[string]string{}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10v", "%-v"} {
		outs[verb] = fmt.Sprintf(verb, tok)
		outs[verb+" pointer"] = fmt.Sprintf(verb, &tok)
	}
	outs["String"] = tok.String()
	outs["Sprint"] = fmt.Sprint(tok)
	outs["Sprint in a struct"] = fmt.Sprintf("%+v", struct{ T Token }{tok})
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("got", "token", tok)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("got", "token", tok)
	outs["slog"] = buf.String()
	for name, s := range outs {
		if strings.Contains(s, secret) || strings.Contains(s, fmt.Sprintf("%x", secret)) {
			t.Errorf("%s shows the token: %s", name, s)
		}
	}
	if s := outs["%+v"]; !strings.Contains(s, "AccessToken:REDACTED") || !strings.Contains(s, "User.Read") || !strings.Contains(s, "2030-01-02") {
		t.Errorf("%%+v = %s, want the other fields", s)
	}
	if s := outs["%#v"]; !strings.HasPrefix(s, "bearer.Token{") {
		t.Errorf("%%#v = %s", s)
	}
	if s := fmt.Sprintf("%+v", Token{}); !strings.Contains(s, "AccessToken: ") {
		t.Errorf("an empty token prints %s, want no REDACTED placeholder", s)
	}
	if !strings.Contains(outs["slog"], "REDACTED") || !strings.Contains(outs["slog"], "User.Read") {
		t.Errorf("slog output %s", outs["slog"])
	}
}

func TestTokenSourceFunc(t *testing.T) {
	f := TokenSourceFunc(func(ctx context.Context, req TokenRequest) (Token, error) {
		return Token{AccessToken: strings.Join(req.Scopes, " ")}, nil
	})
	tok, err := f.Token(context.Background(), TokenRequest{Scopes: []string{"a", "b"}})
	if err != nil || tok.AccessToken != "a b" {
		t.Errorf("got %v, %v", tok.AccessToken, err)
	}
}
