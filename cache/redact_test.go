package cache

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestSecretsNeverPrint(t *testing.T) {
	const (
		at   = "AT-SECRET-eyJhbGciOiJSUzI1NiJ9"
		rt   = "RT-SECRET-0.AXEAabc"
		idt  = "IDT-SECRET-eyJ0eXAi"
		user = "alice@contoso.com"
		home = "HOME-oid.tid"
		obo  = "OBO-HASH"
	)
	values := []any{
		AccessToken{Secret: at, HomeAccountID: home, UserAssertionHash: obo, ClientID: "c", Target: "s", ExpiresOn: t0},
		RefreshToken{Secret: rt, HomeAccountID: home, UserAssertionHash: obo, ClientID: "c"},
		IDToken{Secret: idt, HomeAccountID: home, ClientID: "c"},
		Account{Username: user, HomeAccountID: home, LocalAccountID: home, Name: user, ClientInfo: home, UserAssertionHash: obo},
		Response{AccessToken: at, RefreshToken: rt, IDToken: idt, HomeAccountID: home, UserAssertionHash: obo,
			Account: &Account{Username: user}, ClientID: "c", Scopes: []string{"s"}},
	}
	forbidden := []string{at, rt, idt, user, home, obo}
	for _, v := range values {
		var logs bytes.Buffer
		slog.New(slog.NewJSONHandler(&logs, nil)).Info("entry", "v", v)
		slog.New(slog.NewTextHandler(&logs, nil)).Info("entry", "v", v)
		outputs := []string{
			fmt.Sprint(v), fmt.Sprintf("%v", v), fmt.Sprintf("%+v", v), fmt.Sprintf("%#v", v),
			fmt.Sprintf("%s", v), fmt.Sprintf("%q", v), fmt.Sprintf("%x", v), fmt.Sprintf("%v", &v),
			fmt.Sprintf("%v", []any{v}), fmt.Sprintf("%+v", struct{ V any }{v}),
			logs.String(),
		}
		if s, ok := v.(fmt.Stringer); ok {
			outputs = append(outputs, s.String())
		}
		if s, ok := v.(fmt.GoStringer); ok {
			outputs = append(outputs, s.GoString())
		}
		for _, out := range outputs {
			for _, secret := range forbidden {
				if strings.Contains(out, secret) {
					t.Errorf("%T prints %q: %s", v, secret, out)
				}
			}
		}
	}
	if s := fmt.Sprint(values[0]); !strings.Contains(s, "secret=[redacted]") || !strings.Contains(s, "client_id=c") {
		t.Errorf("AccessToken prints %s: want what identifies it, secret redacted", s)
	}
}

func TestSecretsNeverInErrors(t *testing.T) {
	ctx := context.Background()
	c := New(WithStore(failingStore{fmt.Errorf("store down")}))
	err := c.RemoveAccount(ctx, Account{HomeAccountID: "h", Environment: "e", Username: "alice@contoso.com"}, "c")
	if err == nil || strings.Contains(err.Error(), "alice") {
		t.Errorf("RemoveAccount error = %v", err)
	}
	err = c.StoreResponse(ctx, Response{AccessToken: "AT-SECRET", Environment: "e", Scopes: []string{"s"}, ExpiresOn: t0.Add(time.Hour)}, t0)
	if err == nil || strings.Contains(err.Error(), "AT-SECRET") {
		t.Errorf("StoreResponse error = %v", err)
	}
}
