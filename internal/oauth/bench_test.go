package oauth

import (
	"context"
	"testing"
)

func BenchmarkParseTokenResponse(b *testing.B) {
	body := []byte(`{"token_type":"Bearer","scope":"User.Read openid profile","expires_in":3599,"ext_expires_in":3599,"access_token":"eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL2dyYXBoLm1pY3Jvc29mdC5jb20ifQ.c2lnbmF0dXJl","refresh_token":"0.AXEAr","id_token":"eyJ0eXAi.eyJzdWIi.c2ln","client_info":"` + clientInfo("oid", "tid") + `"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseTokenResponse(body, testNow); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTokenCall is one token request over loopback HTTP, with a
// credential applied: the cost this package adds to a round trip.
func BenchmarkTokenCall(b *testing.B) {
	srv := newAuthority(b)
	var sg signer
	c := &Client{}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Token(context.Background(), tokenRequest(srv.URL, &sg)); err != nil {
			b.Fatal(err)
		}
	}
}
