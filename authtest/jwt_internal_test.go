package authtest

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseJWTBrokenInput(t *testing.T) {
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		name, in string
	}{
		{"empty", ""},
		{"two_parts", enc(`{"alg":"RS256"}`) + "." + enc(`{}`)},
		{"four_parts", "a.b.c.d"},
		{"padded_header", base64.URLEncoding.EncodeToString([]byte(`{"alg":"RS256"}x`)) + "." + enc(`{}`) + ".AA"},
		{"standard_alphabet", strings.ReplaceAll(enc(`{"alg":"RS256","x":"??>"}`), "_", "/") + "." + enc(`{}`) + ".AA"},
		{"header_not_json", enc(`not json`) + "." + enc(`{}`) + ".AA"},
		{"header_array", enc(`[]`) + "." + enc(`{}`) + ".AA"},
		{"header_null", enc(`null`) + "." + enc(`{}`) + ".AA"},
		{"no_alg", enc(`{"typ":"JWT"}`) + "." + enc(`{}`) + ".AA"},
		{"alg_not_string", enc(`{"alg":1}`) + "." + enc(`{}`) + ".AA"},
		{"payload_not_object", enc(`{"alg":"RS256"}`) + "." + enc(`"x"`) + ".AA"},
		{"trailing_data", enc(`{"alg":"RS256"}`) + "." + enc(`{} {}`) + ".AA"},
		{"bad_signature_encoding", enc(`{"alg":"RS256"}`) + "." + enc(`{}`) + ".A=A"},
		{"too_long", enc(`{"alg":"RS256"}`) + "." + strings.Repeat("A", maxJWTSize) + ".AA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := parseJWT(tt.in); !errors.Is(err, errMalformedJWT) {
				t.Errorf("err = %v, want errMalformedJWT", err)
			}
		})
	}
}

func TestVerifyRefusesWrongAlgorithms(t *testing.T) {
	k, err := poolKey(0)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := signJWT(k, map[string]any{"a": 1})
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := parseJWT(tok)
	if err != nil {
		t.Fatal(err)
	}
	if err := parsed.verify(&k.priv.PublicKey, []string{"RS256"}); err != nil {
		t.Fatalf("good token: %v", err)
	}
	if err := parsed.verify(&k.priv.PublicKey, []string{"PS256"}); !errors.Is(err, errAlgorithm) {
		t.Errorf("RS256 token checked as PS256 only: %v", err)
	}
	for _, alg := range []string{"none", "HS256", "ES256"} {
		parsed.header["alg"] = alg
		if err := parsed.verify(&k.priv.PublicKey, []string{alg}); err == nil {
			t.Errorf("alg %s verified with an RSA key", alg)
		}
	}
}

func TestParseClaimsParam(t *testing.T) {
	tests := []struct {
		name, in string
		caps     []string
		acrs     []string
		nbf      int64
		bad      bool
	}{
		{"empty", "", nil, nil, 0, false},
		{"capabilities", `{"access_token":{"xms_cc":{"values":["cp1","cp2"]}}}`, []string{"cp1", "cp2"}, nil, 0, false},
		{"acrs_value", `{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`, nil, []string{"c1"}, 0, false},
		{"acrs_values", `{"access_token":{"acrs":{"essential":true,"values":["c1","c2"]}}}`, nil, []string{"c1", "c2"}, 0, false},
		{"nbf", `{"access_token":{"nbf":{"essential":true,"value":"1604106651"}}}`, nil, nil, 1604106651, false},
		{"id_token_only", `{"id_token":{"auth_time":{"essential":true}}}`, nil, nil, 0, false},
		{"null_claim", `{"access_token":{"acrs":null}}`, nil, nil, 0, false},
		{"not_json", `{`, nil, nil, 0, true},
		{"array", `[]`, nil, nil, 0, true},
		{"null", `null`, nil, nil, 0, true},
		{"access_token_not_object", `{"access_token":[1]}`, nil, nil, 0, true},
		{"claim_not_object", `{"access_token":{"acrs":"c1"}}`, nil, nil, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc, e := parseClaimsParam(tt.in)
			if (e != nil) != tt.bad {
				t.Fatalf("err = %v, want error %v", e, tt.bad)
			}
			if tt.bad {
				return
			}
			if strings.Join(rc.caps, ",") != strings.Join(tt.caps, ",") || strings.Join(rc.acrs, ",") != strings.Join(tt.acrs, ",") || rc.nbf != tt.nbf {
				t.Errorf("got %+v", rc)
			}
		})
	}
}

func FuzzParseJWT(f *testing.F) {
	k, err := poolKey(0)
	if err != nil {
		f.Fatal(err)
	}
	tok, err := signJWT(k, map[string]any{"aud": "x", "exp": 1})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(tok)
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("a.b.c")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		j, err := parseJWT(s)
		if err != nil {
			if !errors.Is(err, errMalformedJWT) {
				t.Fatalf("error %v does not wrap errMalformedJWT", err)
			}
			return
		}
		if j.header == nil || j.claims == nil || j.alg() == "" {
			t.Fatalf("parsed without header, claims or alg")
		}
		_ = j.verify(&k.priv.PublicKey, []string{"RS256", "PS256", "ES256"})
		_ = j.audiences()
		_, _ = j.num("exp")
	})
}

func FuzzClaimsParam(f *testing.F) {
	for _, s := range []string{
		`{"access_token":{"xms_cc":{"values":["cp1"]}}}`,
		`{"access_token":{"nbf":{"essential":true,"value":"1604106651"},"acrs":{"essential":true,"value":"c1"}}}`,
		`{"access_token":{"acrs":{"values":[1,{"a":2},null]}}}`,
		`{`, `[]`, ``,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rc, e := parseClaimsParam(s)
		if e != nil && (e.code != "invalid_request" || e.aadsts != 90100) {
			t.Fatalf("unexpected error %v", e)
		}
		if e != nil && (rc.caps != nil || rc.acrs != nil) {
			t.Fatalf("error with results")
		}
	})
}

func TestPrune(t *testing.T) {
	srv := NewServer(t)
	t0 := srv.Now()
	srv.SetNow(t0)
	srv.mu.Lock()
	srv.issued["old"] = issue{at: t0.Add(-2 * time.Hour), exp: t0.Add(-time.Hour)}
	srv.issued["live"] = issue{at: t0, exp: t0.Add(time.Hour)}
	srv.refreshTokens["old"] = &refreshGrant{expires: t0.Add(-time.Second)}
	srv.refreshTokens["live"] = &refreshGrant{expires: t0.Add(time.Hour)}
	srv.codes["old"] = &authCode{expires: t0.Add(-2 * time.Hour)}
	srv.codes["recent"] = &authCode{expires: t0.Add(-time.Minute)}
	g := &deviceGrant{userCode: "OLD", expires: t0.Add(-2 * time.Hour)}
	srv.devices["old"], srv.userCodes["OLD"] = g, g
	srv.pruneLocked(t0)
	_, oldIssued := srv.issued["old"]
	_, liveIssued := srv.issued["live"]
	_, oldRT := srv.refreshTokens["old"]
	_, liveRT := srv.refreshTokens["live"]
	_, oldCode := srv.codes["old"]
	_, recentCode := srv.codes["recent"]
	_, oldDevice := srv.userCodes["OLD"]
	srv.mu.Unlock()
	if oldIssued || !liveIssued || oldRT || !liveRT || oldCode || !recentCode || oldDevice {
		t.Errorf("prune kept or dropped the wrong entries: issued %v/%v rt %v/%v code %v/%v device %v",
			oldIssued, liveIssued, oldRT, liveRT, oldCode, recentCode, oldDevice)
	}
}

func FuzzDecodeThumbprint(f *testing.F) {
	sum := sha256.Sum256([]byte("certificate"))
	for _, enc := range thumbprintEncodings {
		f.Add(enc.EncodeToString(sum[:]))
	}
	f.Add("")
	f.Add("+-/_")
	f.Add("AAAA====")
	f.Fuzz(func(t *testing.T, s string) {
		b, ok := decodeThumbprint(s, sha256.Size)
		if !ok {
			if b != nil {
				t.Fatalf("refused %q with a result", s)
			}
			return
		}
		if len(b) != sha256.Size {
			t.Fatalf("%q read as %d bytes", s, len(b))
		}
		// A canonical spelling in any accepted encoding reads back the
		// same bytes.
		for _, enc := range thumbprintEncodings {
			if got, ok := decodeThumbprint(enc.EncodeToString(b), sha256.Size); !ok || !bytes.Equal(got, b) {
				t.Fatalf("%q does not read back", enc.EncodeToString(b))
			}
		}
	})
}
