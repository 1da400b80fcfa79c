package cache

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func FuzzUnmarshalMSAL(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		``, `null`, `{}`, `[]`, `{"AccessToken":null}`, `{"AccessToken":{"k":5}}`,
		`{"AccessToken":{"K":{"secret":"a","client_id":"c","environment":"e","expires_on":"9"},"k":{"secret":"b","client_id":"c","environment":"e"}}}`,
		`{"AccessToken":{"k":{"secret":"s","client_id":"c","environment":"login.microsoftonline.com","target":"a b","cached_at":1,"expires_on":"99999999999","key_id":"x","keyid":"y","token_type":"pop"}}}`,
		`{"RefreshToken":{"k":{"secret":"s","client_id":"c","environment":"e","home_account_id":"h","family_id":"1"}},"AppMetadata":{"a":{"client_id":"c","environment":"e","family_id":"1"}}}`,
		`{"Account":{"k":{"home_account_id":"h","environment":"e","username":null}},"X":{"y":[1,2,{"z":true}]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c := New()
		if err := c.UnmarshalMSAL(data); err != nil {
			return
		}
		out, err := c.MarshalMSAL()
		if err != nil {
			t.Fatalf("MarshalMSAL after a successful UnmarshalMSAL: %v", err)
		}
		d, err := decodeDocument(out)
		if err != nil {
			t.Fatalf("MarshalMSAL wrote what UnmarshalMSAL rejects: %v\n%s", err, out)
		}
		if n := len(d.ats) + len(d.rts) + len(d.idts) + len(d.accts); n != c.Stats().Entries {
			t.Fatalf("MarshalMSAL wrote %d entries, Stats says %d", n, c.Stats().Entries)
		}
		c2 := New()
		if err := c2.UnmarshalMSAL(out); err != nil {
			t.Fatal(err)
		}
		out2, err := c2.MarshalMSAL()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, out2) {
			t.Fatalf("not stable:\n%s\n%s", out, out2)
		}
		// Every entry read can be looked up without trouble.
		ctx := context.Background()
		for _, e := range d.ats {
			c.AccessToken(ctx, AccessTokenQuery{Environment: e.v.Environment, Realm: e.v.Realm, ClientID: e.v.ClientID,
				HomeAccountID: e.v.HomeAccountID, UserAssertionHash: e.v.UserAssertionHash, Scopes: e.v.Scopes(),
				TokenType: e.v.TokenType, KeyID: e.v.KeyID}, fixtureTime)
		}
		for _, e := range d.rts {
			c.RefreshToken(ctx, RefreshTokenQuery{Environment: e.v.Environment, ClientID: e.v.ClientID, HomeAccountID: e.v.HomeAccountID, UserAssertionHash: e.v.UserAssertionHash})
		}
		c.Accounts(ctx, AccountFilter{})
		c.Sweep(fixtureTime)

		// A stored partition holding the same document takes a write and a
		// removal and stays readable.
		store := NewMemoryStore()
		seed := func([]byte) ([]byte, error) { return data, nil }
		if err := store.Update(ctx, "h", seed); err != nil {
			t.Fatal(err)
		}
		w := New(WithStore(store))
		r := Response{Environment: "login.microsoftonline.com", Realm: "contoso", ClientID: "my_client_id", HomeAccountID: "h",
			Scopes: []string{"s1", "openid"}, AccessToken: "at", ExpiresOn: fixtureTime.Add(time.Hour), RefreshToken: "rt", FamilyID: "1",
			IDToken: "idt", Account: &Account{Username: "u"}}
		if err := w.StoreResponse(ctx, r, fixtureTime); err != nil {
			t.Fatal(err)
		}
		stored, _ := store.Load(ctx, "h")
		if _, err := decodeDocument(stored); err != nil {
			t.Fatalf("write-through stored what cannot be read: %v", err)
		}
		if err := w.RemoveAccount(ctx, Account{HomeAccountID: "h", Environment: "login.windows.net"}, "my_client_id"); err != nil {
			t.Fatal(err)
		}
		if _, ok := New(WithStore(store)).RefreshToken(ctx, RefreshTokenQuery{Environment: "login.windows.net", ClientID: "my_client_id", HomeAccountID: "h"}); ok {
			t.Fatal("a removed account's refresh token is still stored")
		}
	})
}
