package cache

import (
	"context"
	"testing"
	"time"
)

// TestDPoPTokensOfTwoKeysSurviveTheDocument caches two DPoP tokens of one
// client and scope set bound to two keys (two replicas sharing a store,
// each with its own key), writes the MSAL JSON document and reads it back
// into a new cache: each key still finds its own token. With one MSAL key
// for both (key_id left out of it), the document kept only the last one.
func TestDPoPTokensOfTwoKeysSurviveTheDocument(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	c := New()
	for _, k := range []struct{ keyID, token string }{{"thumbprint-A", "token-a"}, {"thumbprint-B", "token-b"}, {"", "bearer"}} {
		r := Response{ClientID: "c", Environment: "login.microsoftonline.com", Realm: "t", Scopes: []string{"s1"},
			AccessToken: k.token, ExpiresOn: now.Add(time.Hour), TokenType: "DPoP", KeyID: k.keyID}
		if k.keyID == "" {
			r.TokenType = ""
		}
		if err := c.StoreResponse(ctx, r, now); err != nil {
			t.Fatal(err)
		}
	}
	doc, err := c.MarshalMSAL()
	if err != nil {
		t.Fatal(err)
	}
	back := New()
	if err := back.UnmarshalMSAL(doc); err != nil {
		t.Fatal(err)
	}
	for _, want := range []struct{ tokenType, keyID, token string }{{"DPoP", "thumbprint-A", "token-a"}, {"DPoP", "thumbprint-B", "token-b"}, {"", "", "bearer"}} {
		q := AccessTokenQuery{Environment: "login.microsoftonline.com", Realm: "t", ClientID: "c", Scopes: []string{"s1"}, TokenType: want.tokenType, KeyID: want.keyID}
		at, ok := back.AccessToken(ctx, q, now)
		if !ok || at.Secret != want.token {
			t.Errorf("%s %q after the document: found %v, want %s", want.tokenType, want.keyID, ok, want.token)
		}
	}
	if got, want := (AccessToken{Environment: "e", ClientID: "c", Realm: "t", Target: "s1", TokenType: "DPoP", KeyID: "Kid"}).Key(), "-e-accesstoken-c-t-s1-dpop-kid"; got != want {
		t.Errorf("Key() = %q, want %q", got, want)
	}
	if got, want := (AccessToken{Environment: "e", ClientID: "c", Realm: "t", Target: "s1", TokenType: "Bearer", KeyID: "kid"}).Key(), "-e-accesstoken-c-t-s1"; got != want {
		t.Errorf("a bearer token's Key() = %q, want %q (as MSAL Go writes it)", got, want)
	}
}
