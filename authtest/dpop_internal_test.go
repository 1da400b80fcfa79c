package authtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"math/big"
	"net/url"
	"strings"
	"testing"
)

// RFC 7638 section 3.1's example key and its thumbprint.
const (
	rfc7638N   = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
	rfc7638JKT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
)

func TestProofJWKThumbprintRFC7638(t *testing.T) {
	_, jkt, err := parseProofJWK(map[string]any{"kty": "RSA", "n": rfc7638N, "e": "AQAB", "alg": "RS256", "kid": "2011-04-29"})
	if err != nil {
		t.Fatal(err)
	}
	if jkt != rfc7638JKT {
		t.Errorf("thumbprint %s, RFC 7638 says %s", jkt, rfc7638JKT)
	}
}

// testProofKey is a P-256 key with its JWK.
func testProofKey(t testing.TB) (*ecdsa.PrivateKey, map[string]any) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	x, y := make([]byte, 32), make([]byte, 32)
	k.X.FillBytes(x)
	k.Y.FillBytes(y)
	return k, map[string]any{"kty": "EC", "crv": "P-256", "x": b64.EncodeToString(x), "y": b64.EncodeToString(y)}
}

// signES256 signs header and claims with k (the standard library only).
func signES256(t testing.TB, k *ecdsa.PrivateKey, header, claims map[string]any) string {
	hb, _ := json.Marshal(header)
	cb, _ := json.Marshal(claims)
	input := b64.EncodeToString(hb) + "." + b64.EncodeToString(cb)
	d := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, k, d[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + b64.EncodeToString(sig)
}

func TestParseDPoPProofBrokenInput(t *testing.T) {
	k, jwk := testProofKey(t)
	claims := func(kv ...any) map[string]any {
		m := map[string]any{"jti": "j1", "htm": "GET", "htu": "https://rs.example/x", "iat": 1700000000}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(m, kv[i].(string))
				continue
			}
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	hdr := func(kv ...any) map[string]any {
		m := map[string]any{"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(m, kv[i].(string))
				continue
			}
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	with := func(kv ...any) map[string]any {
		m := map[string]any{}
		for k, v := range jwk {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(m, kv[i].(string))
				continue
			}
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	good := signES256(t, k, hdr(), claims())
	if p, err := parseDPoPProof(good); err != nil || p.jti != "j1" || p.htm != "GET" || p.iat != 1700000000 || p.hasAth || p.hasNonce {
		t.Fatalf("good proof: %+v, %v", p, err)
	}
	short := b64.EncodeToString(make([]byte, 31))
	tests := []struct {
		name, proof, want string
	}{
		{"empty", "", "malformed"},
		{"not_a_jwt", "a.b", "malformed"},
		{"too_long", strings.Repeat("A", maxProofSize+1), "longer than"},
		{"typ_JWT", signES256(t, k, hdr("typ", "JWT"), claims()), "typ"},
		{"no_typ", signES256(t, k, hdr("typ", nil), claims()), "typ"},
		{"crit", signES256(t, k, hdr("crit", []string{"exp"}), claims()), "crit"},
		{"no_jwk", signES256(t, k, hdr("jwk", nil), claims()), "no jwk"},
		{"jwk_string", signES256(t, k, hdr("jwk", "x"), claims()), "no jwk"},
		{"jwk_private", signES256(t, k, hdr("jwk", with("d", "AAAA")), claims()), "private member"},
		{"jwk_symmetric", signES256(t, k, hdr("jwk", map[string]any{"kty": "oct", "k": "AAAA"}), claims()), "private member"},
		{"jwk_okp", signES256(t, k, hdr("jwk", map[string]any{"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}), claims()), "kty"},
		{"jwk_no_kty", signES256(t, k, hdr("jwk", with("kty", nil)), claims()), "kty"},
		{"jwk_bad_curve", signES256(t, k, hdr("jwk", with("crv", "secp256k1")), claims()), "crv"},
		{"jwk_short_x", signES256(t, k, hdr("jwk", with("x", short)), claims()), "bytes each"},
		{"jwk_x_not_base64url", signES256(t, k, hdr("jwk", with("x", "+/+/")), claims()), "base64url"},
		{"jwk_no_y", signES256(t, k, hdr("jwk", with("y", nil)), claims()), "no y"},
		{"jwk_off_curve", signES256(t, k, hdr("jwk", with("y", jwk["x"])), claims()), "not on"},
		{"jwk_rsa_small", signES256(t, k, hdr("jwk", map[string]any{"kty": "RSA", "n": b64.EncodeToString(big.NewInt(0).Lsh(big.NewInt(1), 1023).Bytes()), "e": "AQAB"}), claims()), "1024 bits"},
		{"jwk_rsa_leading_zero", signES256(t, k, hdr("jwk", map[string]any{"kty": "RSA", "n": "AAE", "e": "AQAB"}), claims()), "leading zero"},
		{"jwk_rsa_even_e", signES256(t, k, hdr("jwk", map[string]any{"kty": "RSA", "n": rfc7638N, "e": "AQAC"}), claims()), "odd"},
		{"jwk_rsa_huge_e", signES256(t, k, hdr("jwk", map[string]any{"kty": "RSA", "n": rfc7638N, "e": "AQABAQAB"}), claims()), "too large"},
		{"alg_HS256", signES256(t, k, hdr("alg", "HS256"), claims()), "algorithm"},
		{"alg_none", signES256(t, k, hdr("alg", "none"), claims()), "algorithm"},
		{"alg_RS256_with_an_EC_key", signES256(t, k, hdr("alg", "RS256"), claims()), "does not suit"},
		{"bad_signature", good[:len(good)-4] + "AAAA", "signature"},
		{"no_jti", signES256(t, k, hdr(), claims("jti", nil)), "jti"},
		{"empty_jti", signES256(t, k, hdr(), claims("jti", "")), "jti"},
		{"long_jti", signES256(t, k, hdr(), claims("jti", strings.Repeat("j", maxJTI+1))), "jti is longer"},
		{"jti_number", signES256(t, k, hdr(), claims("jti", 7)), "jti"},
		{"no_htm", signES256(t, k, hdr(), claims("htm", nil)), "htm"},
		{"no_htu", signES256(t, k, hdr(), claims("htu", nil)), "htu"},
		{"no_iat", signES256(t, k, hdr(), claims("iat", nil)), "iat"},
		{"iat_string", signES256(t, k, hdr(), claims("iat", "1700000000")), "iat"},
		{"ath_number", signES256(t, k, hdr(), claims("ath", 1)), "ath"},
		{"nonce_object", signES256(t, k, hdr(), claims("nonce", map[string]any{})), "nonce"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseDPoPProof(tt.proof)
			if !errors.Is(err, errDPoPProof) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want errDPoPProof saying %q", err, tt.want)
			}
		})
	}
}

func TestSameHTU(t *testing.T) {
	u := &url.URL{Scheme: "https", Host: "rs.example", Path: "/a/b"}
	tests := []struct {
		htu  string
		want bool
	}{
		{"https://rs.example/a/b", true},
		{"HTTPS://RS.Example/a/b", true},
		{"https://rs.example:443/a/b", true},
		{"https://rs.example/a/B", false},
		{"https://rs.example:8443/a/b", false},
		{"http://rs.example/a/b", false},
		{"https://rs.example/a/b/", false},
		{"https://rs.example/a/b?x=1", false},
		{"https://rs.example/a/b?", false},
		{"https://rs.example/a/b#f", false},
		{"https://user@rs.example/a/b", false},
		{"/a/b", false},
		{"rs.example/a/b", false},
		{"https://other.example/a/b", false},
		{"%zz", false},
	}
	for _, tt := range tests {
		if got, why := sameHTU(tt.htu, u); got != tt.want {
			t.Errorf("sameHTU(%q) = %v (%s), want %v", tt.htu, got, why, tt.want)
		}
	}
	root := &url.URL{Scheme: "http", Host: "127.0.0.1:8080"}
	if ok, why := sameHTU("http://127.0.0.1:8080/", root); !ok {
		t.Errorf("an empty path is /: %s", why)
	}
}

// FuzzParseDPoPProof feeds the proof parser arbitrary headers: it never
// panics, and a proof it accepts has every required claim and a
// thumbprint of 43 base64url characters.
func FuzzParseDPoPProof(f *testing.F) {
	k, jwk := testProofKey(f)
	f.Add(signES256(f, k, map[string]any{"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk},
		map[string]any{"jti": "j1", "htm": "POST", "htu": "https://as.example/token", "iat": 1700000000}))
	f.Add(signES256(f, k, map[string]any{"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk},
		map[string]any{"jti": "j2", "htm": "GET", "htu": "https://rs.example/x", "iat": 1700000000, "ath": "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo", "nonce": "n"}))
	f.Add(signES256(f, k, map[string]any{"typ": "dpop+jwt", "alg": "ES256", "jwk": map[string]any{"kty": "RSA", "n": rfc7638N, "e": "AQAB"}},
		map[string]any{"jti": "j3", "htm": "GET", "htu": "https://rs.example/x", "iat": 1.5e9}))
	f.Add("eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6Im5vbmUifQ.e30.")
	f.Add("")
	f.Fuzz(func(t *testing.T, proof string) {
		p, err := parseDPoPProof(proof)
		if err != nil {
			if !errors.Is(err, errDPoPProof) {
				t.Fatalf("error %v does not wrap errDPoPProof", err)
			}
			return
		}
		if p.jti == "" || p.htm == "" || p.htu == "" || len(p.jkt) != 43 {
			t.Fatalf("accepted an incomplete proof: %+v", p)
		}
	})
}

// FuzzProofJWK feeds the JWK reader arbitrary objects: it never panics,
// and a key it accepts has a 43-character thumbprint that does not depend
// on members other than the required ones.
func FuzzProofJWK(f *testing.F) {
	_, jwk := testProofKey(f)
	b, _ := json.Marshal(jwk)
	f.Add(b)
	f.Add([]byte(`{"kty":"RSA","n":"` + rfc7638N + `","e":"AQAB","kid":"2011-04-29"}`))
	f.Add([]byte(`{"kty":"EC","crv":"P-384","x":"","y":""}`))
	f.Add([]byte(`{"kty":"RSA","n":"AA","e":"AQAB","d":"x"}`))
	f.Add([]byte(`{"kty":1}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := decodeObject(raw)
		if err != nil {
			return
		}
		_, jkt, err := parseProofJWK(m)
		if err != nil {
			return
		}
		if len(jkt) != 43 {
			t.Fatalf("thumbprint %q", jkt)
		}
		m["kid"], m["use"] = "other", "sig"
		if _, again, err := parseProofJWK(m); err != nil || again != jkt {
			t.Fatalf("optional members changed the thumbprint: %q, %v", again, err)
		}
	})
}
