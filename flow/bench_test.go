package flow

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/bearerhttp/bearer"
	"github.com/bearerhttp/bearer/authtest"
	"github.com/bearerhttp/bearer/cache"
	"github.com/bearerhttp/bearer/credential"
)

func BenchmarkParseAuthority(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseAuthority("https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47", false); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEndpointsKnownHost is what finding a known host's endpoints
// costs a call (no network).
func BenchmarkEndpointsKnownHost(b *testing.B) {
	cfg, err := newConfig(WithAuthority("https://login.microsoftonline.com/contoso.com"))
	if err != nil {
		b.Fatal(err)
	}
	c, err := newCore("cid", cfg)
	if err != nil {
		b.Fatal(err)
	}
	cc := callConfig{tenant: "fabrikam.com"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.endpointsFor(context.Background(), cc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEndpointsDiscovered is a cached discovered authority.
func BenchmarkEndpointsDiscovered(b *testing.B) {
	cfg, err := newConfig(WithOIDCAuthority("https://accounts.example.com"))
	if err != nil {
		b.Fatal(err)
	}
	c, err := newCore("cid", cfg)
	if err != nil {
		b.Fatal(err)
	}
	c.resolver.docs[c.authority.String()] = cachedEndpoints{e: &endpoints{authority: c.authority, token: "https://accounts.example.com/token"}, at: cfg.clock()}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.endpointsFor(context.Background(), callConfig{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkClientSourceCachedOIDC is the cost of a cached token of an
// OpenID Connect authority (discovered, not computed, endpoints).
func BenchmarkClientSourceCachedOIDC(b *testing.B) {
	srv := authtest.NewServer(b)
	srv.AddClient(authtest.Client{ID: daemonID, Secret: daemonSecret})
	app := mustConfidential(b, daemonID, credential.Secret(daemonSecret), WithOIDCAuthority(srv.OIDCIssuer()), WithHTTPClient(srv.Client()))
	src := app.ClientSource()
	req := bearer.TokenRequest{Scopes: []string{graphDefault}}
	if _, err := src.Token(context.Background(), req); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := src.Token(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
	if n := srv.TokenRequests(); n != 1 {
		b.Errorf("%d token requests", n)
	}
}

// BenchmarkAcquireTokenForClientTenants is a cached app token through
// AcquireTokenForClient with Tenant, in a cache holding the app's tokens
// of 10, 10k and 1M tenants (filled through the cache, where flow's
// own calls would have cached them), the calls cycling over 10 tenants
// spread over the cache: what the number of tenants costs a call. 1M
// is skipped with -short (it takes ~1 GB and seconds to fill).
func BenchmarkAcquireTokenForClientTenants(b *testing.B) {
	for _, size := range []struct {
		name string
		n    int
	}{{"10", 10}, {"10k", 10_000}, {"1M", 1_000_000}} {
		b.Run("tenants="+size.name, func(b *testing.B) {
			if size.n > 10_000 && testing.Short() {
				b.Skip("-short")
			}
			srv := authtest.NewTLSServer(b)
			srv.AddClient(authtest.Client{ID: daemonID, Secret: daemonSecret})
			store := cache.New(cache.WithMaxEntries(0))
			app := mustConfidential(b, daemonID, credential.Secret(daemonSecret),
				WithAuthority(srv.Authority("contoso.com")), WithHTTPClient(srv.Client()), WithCache(store))
			tenant := func(i int) string { return fmt.Sprintf("%08x-170f-4ae3-a5fc-db742f13f25a", i) }
			now := app.cfg.clock()
			r := cache.Response{ClientID: daemonID, Scopes: []string{graphDefault}, AccessToken: "eyJ0eXAiOiJKV1QifQ.e30.c2ln", ExpiresOn: now.Add(24 * time.Hour)}
			for i := range size.n {
				a, err := app.authorityFor(callConfig{tenant: tenant(i)})
				if err != nil {
					b.Fatal(err)
				}
				env, realm, ok := app.cacheKeyOf(a)
				if !ok {
					b.Fatal("cache key unknown without discovery")
				}
				r.Environment, r.Realm = env, realm
				if err := store.StoreResponse(context.Background(), r, now); err != nil {
					b.Fatal(err)
				}
			}
			const active = 10
			opts := make([][]CallOption, active)
			for i := range opts {
				opts[i] = []CallOption{Tenant(tenant(i * (size.n / active)))}
			}
			scopes := []string{graphDefault}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				res, err := app.AcquireTokenForClient(context.Background(), scopes, opts[i%active]...)
				if err != nil || !res.FromCache {
					b.Fatal(err, res.FromCache)
				}
			}
			b.StopTimer()
			if n := srv.TokenRequests(); n != 0 {
				b.Errorf("%d token requests, want 0", n)
			}
		})
	}
}
