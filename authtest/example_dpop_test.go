package authtest_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/bearerhttp/bearer/authtest"
)

// A test of a DPoP client of your own (here, proofs made by hand with
// jwx): the token endpoint demands a nonce, binds the token to the
// client's key, and the resource takes the token with a proof of that
// key only.
func ExampleWithDPoP() {
	srv := authtest.NewServer(nil, authtest.WithDPoP()) // in a test: authtest.NewServer(t, ...)
	defer srv.Close()
	srv.AddClient(authtest.Client{ID: "my-daemon", Secret: "s3cret"})
	srv.AddAPI(authtest.API{Audience: "api://orders", Roles: []string{"Orders.Read.All"}})
	srv.RequireDPoPNonce(authtest.EndpointToken)

	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub, _ := jwk.FromRaw(key.Public())
	proof := func(method, htu, nonce, accessToken string) string {
		claims := map[string]any{"jti": rand.Text(), "htm": method, "htu": htu, "iat": srv.Now().Unix()}
		if nonce != "" {
			claims["nonce"] = nonce
		}
		if accessToken != "" {
			h := sha256.Sum256([]byte(accessToken))
			claims["ath"] = base64.RawURLEncoding.EncodeToString(h[:])
		}
		payload, _ := json.Marshal(claims)
		hdr := jws.NewHeaders()
		_ = hdr.Set(jws.TypeKey, "dpop+jwt")
		_ = hdr.Set(jws.JWKKey, pub)
		signed, _ := jws.Sign(payload, jws.WithKey(jwa.ES256, key, jws.WithProtectedHeaders(hdr)))
		return string(signed)
	}
	tokenURL := srv.OIDCIssuer() + "/token"
	askToken := func(nonce string) *http.Response {
		req, _ := http.NewRequest("POST", tokenURL, strings.NewReader(url.Values{
			"grant_type": {"client_credentials"}, "scope": {"api://orders/.default"},
		}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("my-daemon", "s3cret")
		req.Header.Set("DPoP", proof("POST", tokenURL, nonce, ""))
		resp, _ := srv.Client().Do(req)
		return resp
	}

	resp := askToken("")
	resp.Body.Close()
	fmt.Println("without a nonce:", resp.StatusCode, resp.Header.Get("DPoP-Nonce") != "")
	resp = askToken(resp.Header.Get("DPoP-Nonce"))
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	fmt.Println("with the nonce:", resp.StatusCode, tok.TokenType)

	orders := srv.URL + "/resource/orders"
	call := func(scheme, dpop string) int {
		req, _ := http.NewRequest("GET", orders, nil)
		req.Header.Set("Authorization", scheme+" "+tok.AccessToken)
		if dpop != "" {
			req.Header.Set("DPoP", dpop)
		}
		resp, _ := srv.Client().Do(req)
		resp.Body.Close()
		return resp.StatusCode
	}
	p := proof("GET", orders, "", tok.AccessToken)
	fmt.Println("with a proof:", call("DPoP", p))
	fmt.Println("the same proof again:", call("DPoP", p))
	fmt.Println("as a bearer token:", call("Bearer", ""))
	// Output:
	// without a nonce: 400 true
	// with the nonce: 200 DPoP
	// with a proof: 200
	// the same proof again: 401
	// as a bearer token: 401
}
