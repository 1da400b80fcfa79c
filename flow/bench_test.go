package flow

import (
	"context"
	"testing"
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
