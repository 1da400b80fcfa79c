package credential_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bearerhttp/bearer/credential"
)

// holder is how an application keeps a credential: in exported and
// unexported fields, directly and behind an interface.
type holder struct {
	Cred   credential.Credential
	hidden credential.Credential
	Name   string
}

// TestNothingSecretIsPrinted formats every credential with every fmt verb,
// alone and inside structs, and logs it with slog's text and JSON
// handlers; no output may contain the secret, the private key or the
// assertion the credential holds.
func TestNothingSecretIsPrinted(t *testing.T) {
	const secret = "Sup3r-Secret-Value~XYZ"
	key := testKey(t, rsa2048)
	ecKey := testKey(t, p256)
	certCred, err := credential.Certificate([]*x509.Certificate{selfSigned(t, key)}, key, credential.WithX5C())
	if err != nil {
		t.Fatal(err)
	}
	ecCred, err := credential.Certificate([]*x509.Certificate{selfSigned(t, ecKey)}, ecKey)
	if err != nil {
		t.Fatal(err)
	}
	edKey := testKey(t, ed)
	edCred, err := credential.Certificate([]*x509.Certificate{selfSigned(t, edKey)}, edKey)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "token")
	fileTok := jwtExp(t0.Add(time.Hour), "file")
	writeFile(t, path, fileTok, mtime0)
	fileCred := credential.AssertionFile(path)
	mustApplyFile(t, fileCred, t0) // now it holds the token
	const cbTok = "callback.assertion.value"
	cbCred := credential.Assertion(func(context.Context, credential.AssertionRequest) (string, error) { return cbTok, nil })

	secrets := append(append([]string{secret, fileTok, strings.Split(fileTok, ".")[1], cbTok}, leakMarkers(key)...), append(leakMarkers(ecKey), leakMarkers(edKey)...)...)
	creds := map[string]credential.Credential{
		"Secret": credential.Secret(secret), "Certificate": certCred, "Certificate_EC": ecCred, "Certificate_Ed25519": edCred,
		"AssertionFile": fileCred, "Assertion": cbCred,
	}
	wantPrefix := map[string]string{
		"Secret": "credential.Secret(REDACTED)", "Certificate": "credential.Certificate(RSA key",
		"Certificate_EC": "credential.Certificate(ECDSA P-256 key", "Certificate_Ed25519": "credential.Certificate(Ed25519 key", "AssertionFile": "credential.AssertionFile(",
		"Assertion": "credential.Assertion(callback)",
	}
	verbs := []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T", "%10.3v"}
	for name, c := range creds {
		t.Run(name, func(t *testing.T) {
			if got := fmt.Sprint(c); !strings.HasPrefix(got, wantPrefix[name]) {
				t.Errorf("fmt.Sprint = %q, want it to start with %q", got, wantPrefix[name])
			}
			values := []any{c, holder{Cred: c, hidden: c, Name: "n"}, &holder{Cred: c, hidden: c}, []credential.Credential{c}, map[string]any{"c": c}}
			for _, v := range values {
				for _, verb := range verbs {
					assertNoLeak(t, fmt.Sprintf("fmt %s of %T", verb, v), fmt.Sprintf(verb, v), secrets...)
				}
			}
			var buf bytes.Buffer
			for _, h := range []slog.Handler{slog.NewTextHandler(&buf, nil), slog.NewJSONHandler(&buf, nil)} {
				l := slog.New(h)
				l.Info("credential", "cred", c, "holder", holder{Cred: c, hidden: c}, slog.Any("any", c))
			}
			assertNoLeak(t, "slog output", buf.String(), secrets...)
			if !strings.Contains(buf.String(), "credential.") {
				t.Errorf("slog output does not describe the credential: %s", buf.String())
			}
		})
	}

	// The secret-bearing form itself is the only place the secret goes.
	form := url.Values{}
	if err := creds["Secret"].Apply(context.Background(), credential.Request{}, form, http.Header{}); err != nil {
		t.Fatal(err)
	}
	if form.Get("client_secret") != secret {
		t.Error("the secret did not reach the form")
	}
}
