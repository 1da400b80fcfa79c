package bearer

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// nopTransport answers every request with the same canned response.
type nopTransport struct{ resp *http.Response }

func (n nopTransport) RoundTrip(*http.Request) (*http.Response, error) { return n.resp, nil }

const benchToken = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL2dyYXBoLm1pY3Jvc29mdC5jb20ifQ.c2lnbmF0dXJl"

func benchRequest(b *testing.B) (*http.Request, http.RoundTripper) {
	req, err := http.NewRequest("GET", "https://graph.microsoft.com/v1.0/me/messages?$top=10&$select=subject", nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	base := nopTransport{resp: &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("")), Header: http.Header{}}}
	return req, base
}

var sink *http.Response

// BenchmarkTransportCachedToken measures RoundTrip with a token served by
// ReuseTokenSource from its cache.
func BenchmarkTransportCachedToken(b *testing.B) {
	req, base := benchRequest(b)
	src := ReuseTokenSource(TokenSourceFunc(func(context.Context, TokenRequest) (Token, error) {
		return Token{AccessToken: benchToken, ExpiresOn: time.Now().Add(time.Hour)}, nil
	}))
	tr := &Transport{Source: src, Scopes: graphScopes, Base: base}
	if _, err := tr.RoundTrip(req); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		resp, err := tr.RoundTrip(req)
		if err != nil {
			b.Fatal(err)
		}
		sink = resp
	}
}

// BenchmarkFloor is the least any authenticating RoundTripper does: clone
// the request, set one header to a value computed beforehand, call Base.
func BenchmarkFloor(b *testing.B) {
	req, base := benchRequest(b)
	header := "Bearer " + benchToken
	var rt http.RoundTripper = base
	b.ReportAllocs()
	for b.Loop() {
		r2 := req.Clone(req.Context())
		r2.Header.Set("Authorization", header)
		resp, err := rt.RoundTrip(r2)
		if err != nil {
			b.Fatal(err)
		}
		sink = resp
	}
}

// BenchmarkOAuth2Transport is golang.org/x/oauth2's Transport and
// ReuseTokenSource on the same request.
func BenchmarkOAuth2Transport(b *testing.B) {
	req, base := benchRequest(b)
	tr := &oauth2.Transport{
		Source: oauth2.ReuseTokenSource(nil, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: benchToken, Expiry: time.Now().Add(time.Hour)})),
		Base:   base,
	}
	b.ReportAllocs()
	for b.Loop() {
		resp, err := tr.RoundTrip(req)
		if err != nil {
			b.Fatal(err)
		}
		sink = resp
	}
}

var reqSink *http.Request

// BenchmarkClone compares the transport's clone of a request, which also
// looks for an Authorization key of any spelling, with
// http.Request.Clone, for a request with one header and with six.
func BenchmarkClone(b *testing.B) {
	one, _ := benchRequest(b)
	six := one.Clone(one.Context())
	for _, k := range []string{"Content-Type", "User-Agent", "X-Ms-Client-Request-Id", "Prefer", "Consistencylevel"} {
		six.Header.Set(k, "x")
	}
	for _, bc := range []struct {
		name string
		req  *http.Request
	}{{"1-header", one}, {"6-headers", six}} {
		b.Run(bc.name+"/http.Request.Clone", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				reqSink = bc.req.Clone(bc.req.Context())
			}
		})
		b.Run(bc.name+"/cloneUnauthorized", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				reqSink, _ = cloneUnauthorized(bc.req)
			}
		})
	}
}
