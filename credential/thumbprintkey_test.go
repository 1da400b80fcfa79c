package credential_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bearerhttp/bearer/credential"
)

func applyOnce(t *testing.T, cred credential.Credential, kind credential.AuthorityKind, algs ...string) (map[string]any, map[string]any, error) {
	t.Helper()
	form := url.Values{}
	err := cred.Apply(context.Background(), credential.Request{ClientID: "app", Audience: "https://login.example/t/oauth2/v2.0/token", Kind: kind, Algorithms: algs, Now: time.Now()}, form, nil)
	if err != nil {
		return nil, nil, err
	}
	h, c := jwtParts(t, form.Get("client_assertion"))
	return h, c, nil
}

func TestCertificateThumbprintSignsRS256WithX5t(t *testing.T) {
	key := testKey(t, rsa2048)
	leaf := selfSigned(t, key)
	thumb := credential.Thumbprint(leaf)
	for _, tp := range []string{thumb, strings.ToLower(thumb), colons(thumb)} {
		cred, err := credential.CertificateThumbprint(key, tp)
		if err != nil {
			t.Fatal(err)
		}
		for _, kind := range []credential.AuthorityKind{credential.Entra, credential.ADFS, credential.OIDC} {
			h, c, err := applyOnce(t, cred, kind)
			if err != nil {
				t.Fatal(err)
			}
			if h["alg"] != "RS256" || h["x5t"] != b64urlSHA1(leaf.Raw) || h["x5t#S256"] != nil || c["iss"] != "app" || c["sub"] != "app" {
				t.Errorf("%s: header %v claims %v", kind, h, c)
			}
		}
		if s := fmt.Sprintf("%v %+v %#v %s", cred, cred, cred, cred); strings.Contains(s, "PRIVATE") || !strings.Contains(s, "x5t") {
			t.Errorf("printed as %s", s)
		}
	}
	cred, _ := credential.CertificateThumbprint(key, thumb)
	if _, _, err := applyOnce(t, cred, credential.OIDC, "ES256", "PS256"); !errors.Is(err, credential.ErrUnsupportedKey) {
		t.Errorf("an OIDC authority without RS256: %v", err)
	}
	if err := credential.Validate(cred); err != nil {
		t.Errorf("Validate: %v", err)
	}
	for name, tc := range map[string]struct {
		key  string
		tp   string
		want error
	}{
		"ecdsa_key":     {p256, thumb, credential.ErrUnsupportedKey},
		"not_hex":       {rsa2048, "zz" + thumb[2:], credential.ErrMalformed},
		"sha256_length": {rsa2048, strings.Repeat("ab", 32), credential.ErrMalformed},
		"empty":         {rsa2048, "", credential.ErrMalformed},
	} {
		if _, err := credential.CertificateThumbprint(testKey(t, tc.key), tc.tp); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	if _, err := credential.CertificateThumbprint(nil, thumb); !errors.Is(err, credential.ErrNoPrivateKey) {
		t.Errorf("nil key: %v", err)
	}
}

func colons(hex string) string {
	var parts []string
	for i := 0; i < len(hex); i += 2 {
		parts = append(parts, hex[i:i+2])
	}
	return strings.Join(parts, ":")
}

func TestMSALCertificate(t *testing.T) {
	key := testKey(t, rsa2048)
	leaf := selfSigned(t, key)
	thumb := credential.Thumbprint(leaf)
	keyPEM := string(pkcs8PEM(t, key))
	encPEM := string(encryptedPKCS8PEM(t, key, "pass-PHRASE-1", nil))
	pubPEM := string(certPEM(leaf))
	tests := []struct {
		name              string
		dict              string
		wantAlg, wantHash string // the x5t header name
		wantX5C           bool
		wantErr           error
	}{
		{name: "key_and_thumbprint", dict: js(map[string]string{"private_key": keyPEM, "thumbprint": thumb}), wantAlg: "RS256", wantHash: "x5t"},
		{name: "encrypted_key_passphrase", dict: js(map[string]string{"private_key": encPEM, "passphrase": "pass-PHRASE-1", "thumbprint": thumb}), wantAlg: "RS256", wantHash: "x5t"},
		{name: "public_certificate", dict: js(map[string]string{"private_key": keyPEM, "public_certificate": pubPEM}), wantAlg: "PS256", wantHash: "x5t#S256", wantX5C: true},
		{name: "certificate_and_matching_thumbprint", dict: js(map[string]string{"private_key": keyPEM, "public_certificate": pubPEM, "thumbprint": thumb}), wantAlg: "PS256", wantHash: "x5t#S256", wantX5C: true},
		{name: "certificate_in_private_key", dict: js(map[string]string{"private_key": keyPEM + pubPEM}), wantAlg: "PS256", wantHash: "x5t#S256"},
		{name: "wrong_passphrase", dict: js(map[string]string{"private_key": encPEM, "passphrase": "nope-nope", "thumbprint": thumb}), wantErr: credential.ErrWrongPassword},
		{name: "thumbprint_of_another", dict: js(map[string]string{"private_key": keyPEM, "public_certificate": pubPEM, "thumbprint": strings.Repeat("AB", 20)}), wantErr: credential.ErrThumbprintMismatch},
		{name: "neither_certificate_nor_thumbprint", dict: js(map[string]string{"private_key": keyPEM}), wantErr: credential.ErrNoCertificate},
		{name: "no_private_key", dict: js(map[string]string{"thumbprint": thumb}), wantErr: credential.ErrNoPrivateKey},
		{name: "certificate_only_in_private_key", dict: js(map[string]string{"private_key": pubPEM, "thumbprint": thumb}), wantErr: credential.ErrNoPrivateKey},
		{name: "garbage_certificate", dict: js(map[string]string{"private_key": keyPEM, "public_certificate": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}), wantErr: credential.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m credential.MSALCertificate
			if err := json.Unmarshal([]byte(tt.dict), &m); err != nil {
				t.Fatal(err)
			}
			cred, err := m.Credential()
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("%v, want %v", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "pass-PHRASE") || strings.Contains(err.Error(), "-----BEGIN") || strings.Contains(err.Error(), keyPEM[40:80]) {
					t.Errorf("the error shows the key or passphrase: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			h, _, err := applyOnce(t, cred, credential.Entra)
			if err != nil {
				t.Fatal(err)
			}
			want := b64urlSHA1(leaf.Raw)
			if tt.wantHash == "x5t#S256" {
				want = b64urlSHA256(leaf.Raw)
			}
			if h["alg"] != tt.wantAlg || h[tt.wantHash] != want || (h["x5c"] != nil) != tt.wantX5C {
				t.Errorf("header %v", h)
			}
			if tt.wantX5C {
				if x5c, _ := h["x5c"].([]any); len(x5c) != 1 || x5c[0] != base64.StdEncoding.EncodeToString(leaf.Raw) {
					t.Errorf("x5c %v", h["x5c"])
				}
			}
		})
	}
	m := credential.MSALCertificate{PrivateKey: encPEM, Passphrase: "pass-PHRASE-1", Thumbprint: thumb}
	if s := fmt.Sprintf("%v %+v %#v %s", m, m, m, m); strings.Contains(s, "pass-PHRASE") || strings.Contains(s, "-----BEGIN") {
		t.Errorf("printed as %s", s)
	}
}

func js(m map[string]string) string {
	b, _ := json.Marshal(m)
	return string(b)
}
