package cache

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestReadPartition: two caches (two processes) share a store. What one
// writes to a partition the other has already read is found by the
// other only after ReadPartition.
func TestReadPartition(t *testing.T) {
	ctx := context.Background()
	const scope = "api://x/.default"
	q := AccessTokenQuery{Environment: "login.microsoftonline.com", Realm: "tenant", ClientID: "app", Scopes: []string{scope}}
	pname := AppPartition("app", "tenant")
	at := func(expires time.Duration, secret string) Response {
		r := appResponse("app", "tenant", secret, scope)
		r.ExpiresOn = t0.Add(expires)
		return r
	}

	t.Run("a token written elsewhere is found", func(t *testing.T) {
		store := NewMemoryStore()
		a, b := New(WithStore(store)), New(WithStore(store))
		if _, ok := b.AccessToken(ctx, q, t0); ok {
			t.Fatal("a token in an empty store")
		}
		mustStore(t, a, at(time.Hour, "from-a"), t0)
		if _, ok := b.AccessToken(ctx, q, t0); ok {
			t.Fatal("b found a's token without reading the partition again: the test shows nothing")
		}
		if err := b.ReadPartition(ctx, pname, t0); err != nil {
			t.Fatal(err)
		}
		if got, ok := b.AccessToken(ctx, q, t0); !ok || got.Secret != "from-a" {
			t.Errorf("after ReadPartition: %v, %v", got, ok)
		}
	})
	for _, tc := range []struct {
		name          string
		mine, stored  time.Duration // lifetimes
		want          string
		storedExpired bool
	}{
		{name: "a later expiry replaces memory's token", mine: time.Hour, stored: 2 * time.Hour, want: "stored"},
		{name: "an earlier expiry does not", mine: 2 * time.Hour, stored: time.Hour, want: "mine"},
		{name: "the same expiry does not", mine: time.Hour, stored: time.Hour, want: "mine"},
		{name: "an expired token does not", mine: time.Hour, stored: 30 * time.Minute, want: "mine", storedExpired: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := NewMemoryStore()
			b := New(WithStore(store))
			a := New(WithStore(store))
			mustStore(t, b, at(tc.mine, "mine"), t0)
			mustStore(t, a, at(tc.stored, "stored"), t0) // replaces b's in the store, not in b's memory
			now := t0
			if tc.storedExpired {
				now = t0.Add(40 * time.Minute)
			}
			if err := b.ReadPartition(ctx, pname, now); err != nil {
				t.Fatal(err)
			}
			got, ok := b.AccessToken(ctx, q, now)
			if !ok || got.Secret != tc.want {
				t.Errorf("after ReadPartition: %q, %v; want %q", got.Secret, ok, tc.want)
			}
			if n := b.Stats().Entries; n != 1 {
				t.Errorf("%d entries, want 1: the replaced token must go", n)
			}
		})
	}
	t.Run("memory's refresh token stays", func(t *testing.T) {
		store := NewMemoryStore()
		a, b := New(WithStore(store)), New(WithStore(store))
		r := userResponse("uid.utid", "mine", "User.Read")
		mustStore(t, b, r, t0)
		r2 := userResponse("uid.utid", "theirs", "User.Read")
		r2.ExpiresOn = t0.Add(2 * time.Hour)
		mustStore(t, a, r2, t0)
		if err := b.ReadPartition(ctx, "uid.utid", t0); err != nil {
			t.Fatal(err)
		}
		rt, ok := b.RefreshToken(ctx, RefreshTokenQuery{Environment: "login.microsoftonline.com", ClientID: "my_client_id", HomeAccountID: "uid.utid"})
		if !ok || rt.Secret != "rt-mine" {
			t.Errorf("refresh token %q, %v; want memory's rt-mine", rt.Secret, ok)
		}
		got, ok := b.AccessToken(ctx, userQuery("uid.utid", "User.Read"), t0)
		if !ok || got.Secret != "theirs" {
			t.Errorf("access token %q, %v; want the later-expiring theirs", got.Secret, ok)
		}
	})
	t.Run("a store failure is returned", func(t *testing.T) {
		boom := errors.New("boom")
		c := New(WithStore(failingStore{boom}))
		err := c.ReadPartition(ctx, pname, t0)
		var se *StoreError
		if !errors.As(err, &se) || !errors.Is(err, boom) {
			t.Errorf("ReadPartition = %v, want a *StoreError wrapping the store's error", err)
		}
	})
	t.Run("no store does nothing", func(t *testing.T) {
		if err := New().ReadPartition(ctx, pname, t0); err != nil {
			t.Error(err)
		}
	})
}
