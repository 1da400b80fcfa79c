package cache

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestAccessToken_authorization checks the Authorization value a hit
// carries: "Bearer " and the secret for bearer tokens (however the type
// is spelled), none for other types; the new token's after a
// replacement; never written into the MSAL JSON, and built again for
// tokens read from it.
func TestAccessToken_authorization(t *testing.T) {
	ctx := context.Background()
	graph := []string{"https://graph.microsoft.com/.default"}
	tests := []struct {
		name, tokenType, keyID, want string
	}{
		{"no_type", "", "", "Bearer secret-1"},
		{"Bearer", "Bearer", "", "Bearer secret-1"},
		{"bearer", "bearer", "", "Bearer secret-1"},
		{"pop", "pop", "k1", ""},
		{"DPoP", "DPoP", "k1", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := New()
			r := appResponse("app", "tenant", "secret-1", graph...)
			r.TokenType, r.KeyID = tc.tokenType, tc.keyID
			mustStore(t, c, r, t0)
			q := AccessTokenQuery{Environment: "login.microsoftonline.com", Realm: "tenant", ClientID: "app", Scopes: graph, TokenType: tc.tokenType, KeyID: tc.keyID}
			at, ok := c.AccessToken(ctx, q, t0)
			if !ok || at.Secret != "secret-1" || at.Authorization != tc.want {
				t.Fatalf("hit %v: Secret %q, Authorization %q, want %q", ok, at.Secret, at.Authorization, tc.want)
			}
			doc, err := c.MarshalMSAL()
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(doc), "Bearer secret") || !strings.Contains(string(doc), `"secret": "secret-1"`) && !strings.Contains(string(doc), `"secret":"secret-1"`) {
				t.Errorf("MSAL JSON holds %s", doc)
			}
			c2 := New()
			if err := c2.UnmarshalMSAL(doc); err != nil {
				t.Fatal(err)
			}
			if at, ok := c2.AccessToken(ctx, q, t0); !ok || at.Secret != "secret-1" || at.Authorization != tc.want {
				t.Errorf("read from JSON: Secret %q, Authorization %q, want %q", at.Secret, at.Authorization, tc.want)
			}

			r.AccessToken, r.ExpiresOn = "secret-2", t0.Add(2*time.Hour)
			mustStore(t, c, r, t0)
			at, _ = c.AccessToken(ctx, q, t0)
			if want := strings.Replace(tc.want, "secret-1", "secret-2", 1); at.Secret != "secret-2" || at.Authorization != want {
				t.Errorf("after a new token: Secret %q, Authorization %q, want %q", at.Secret, at.Authorization, want)
			}
		})
	}
}

// TestGeneration checks that the generation changes with every way an
// access token enters or leaves the cache, and only then: a caller that
// keeps a token while the generation stays serves what the cache holds.
func TestGeneration(t *testing.T) {
	ctx := context.Background()
	graph := []string{"https://graph.microsoft.com/.default"}
	q := AccessTokenQuery{Environment: "login.microsoftonline.com", Realm: "tenant", ClientID: "app", Scopes: graph}
	tests := []struct {
		name   string
		change func(t *testing.T, c *Cache)
		want   bool // the generation changes
	}{
		{"lookup", func(t *testing.T, c *Cache) { c.AccessToken(ctx, q, t0) }, false},
		{"lookup_miss", func(t *testing.T, c *Cache) {
			c.AccessToken(ctx, AccessTokenQuery{Realm: "other", ClientID: "app", Scopes: graph}, t0)
		}, false},
		{"store_new", func(t *testing.T, c *Cache) { mustStore(t, c, appResponse("app", "other", "s", graph...), t0) }, true},
		{"store_replacing", func(t *testing.T, c *Cache) { mustStore(t, c, appResponse("app", "tenant", "secret-2", graph...), t0) }, true},
		{"remove_app_tokens", func(t *testing.T, c *Cache) {
			if err := c.RemoveAppTokens(ctx, "app", ""); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"expired_dropped_by_lookup", func(t *testing.T, c *Cache) { c.AccessToken(ctx, q, t0.Add(2*time.Hour)) }, true},
		{"sweep", func(t *testing.T, c *Cache) { c.Sweep(t0.Add(2 * time.Hour)) }, true},
		{"unmarshal", func(t *testing.T, c *Cache) {
			if err := c.UnmarshalMSAL([]byte(`{}`)); err != nil {
				t.Fatal(err)
			}
		}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := New()
			mustStore(t, c, appResponse("app", "tenant", "secret-1", graph...), t0)
			before := c.Generation()
			tc.change(t, c)
			if changed := c.Generation() != before; changed != tc.want {
				t.Errorf("generation changed %v, want %v", changed, tc.want)
			}
		})
	}
}
