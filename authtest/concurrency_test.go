package authtest_test

import (
	"crypto/x509"
	"sync"
	"testing"

	"github.com/bearerhttp/bearer/authtest"
)

// race runs f n times at once and returns how many calls got 200.
func race(n int, f func() response) int {
	var wg sync.WaitGroup
	results := make(chan int, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results <- f().status
		}()
	}
	wg.Wait()
	close(results)
	ok := 0
	for st := range results {
		if st == 200 {
			ok++
		}
	}
	return ok
}

func TestConcurrentRedemption(t *testing.T) {
	srv := newServer(t)
	t.Run("authorization_code_once", func(t *testing.T) {
		q := redirected(t, get(t, srv, authorizeURL(srv, contosoTID)))
		if n := race(8, func() response { return redeem(t, srv, contosoTID, q.Get("code")) }); n != 1 {
			t.Errorf("%d concurrent redemptions of one code succeeded, want 1", n)
		}
	})
	t.Run("strict_refresh_token_once", func(t *testing.T) {
		srv.AddClient(authtest.Client{ID: "strict", Public: true, StrictRotation: true})
		rt := passwordToken(t, srv, "strict", "User.Read offline_access").str("refresh_token")
		f := form("grant_type", "refresh_token", "client_id", "strict", "refresh_token", rt, "scope", "User.Read")
		if n := race(8, func() response { return post(t, srv, tokenURL(srv, contosoTID), f) }); n != 1 {
			t.Errorf("%d concurrent redemptions of a single-use refresh token succeeded, want 1", n)
		}
	})
	t.Run("reusable_refresh_token", func(t *testing.T) {
		rt := passwordToken(t, srv, publicID, "User.Read offline_access").str("refresh_token")
		f := form("grant_type", "refresh_token", "client_id", publicID, "refresh_token", rt, "scope", "User.Read")
		if n := race(8, func() response { return post(t, srv, tokenURL(srv, contosoTID), f) }); n != 8 {
			t.Errorf("%d of 8 concurrent refreshes succeeded, want all", n)
		}
	})
	t.Run("client_assertion_jti_once", func(t *testing.T) {
		key := testRSAKey(t)
		cert := selfSigned(t, key)
		srv.AddClient(authtest.Client{ID: certClientID, Certificates: []*x509.Certificate{cert}})
		a := signJWS(t, key, "PS256", map[string]any{"x5t#S256": x5tS256(cert)}, assertionClaims(certClientID, tokenURL(srv, contosoTID), srv.Now()))
		if n := race(8, func() response {
			return post(t, srv, tokenURL(srv, contosoTID), form(assertionForm(certClientID, a)...))
		}); n != 1 {
			t.Errorf("%d concurrent uses of one assertion succeeded, want 1", n)
		}
	})
}
