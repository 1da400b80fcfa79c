package flow

import (
	"context"
	"testing"

	"github.com/bearerhttp/bearer"
	"github.com/bearerhttp/bearer/authtest"
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
