package credential_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bearerhttp/bearer/credential"
)

// fakeJWT returns a compact JWS with the given claims JSON; the signature
// is not checked by AssertionFile, so it is a placeholder.
func fakeJWT(claims string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256","typ":"JWT","kid":"k1"}`)) + "." + enc([]byte(claims)) + "." + enc([]byte("signature-bytes"))
}

// jwtExp returns a fake JWT expiring at exp, marked with tag (the same
// length for tags of the same length).
func jwtExp(exp time.Time, tag string) string {
	return fakeJWT(fmt.Sprintf(`{"aud":"api://AzureADTokenExchange","iss":"https://oidc.example","sub":"system:serviceaccount:ns:sa","exp":%d,"tag":%q}`, exp.Unix(), tag))
}

// writeFile writes data to path and sets its modification time to mtime,
// so tests control what a stat sees.
func writeFile(t *testing.T, path, data string, mtime time.Time) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

// applyFile applies cred at now and returns the assertion it sent.
func applyFile(t *testing.T, cred credential.Credential, now time.Time) (string, error) {
	t.Helper()
	form, header := url.Values{}, http.Header{}
	err := cred.Apply(context.Background(), credential.Request{ClientID: testClientID, Audience: testAudience, Now: now}, form, header)
	if err != nil {
		if len(form)+len(header) != 0 {
			t.Error("failed Apply changed the request")
		}
		return "", err
	}
	if form.Get("client_assertion_type") != credential.JWTBearer {
		t.Errorf("client_assertion_type = %q", form.Get("client_assertion_type"))
	}
	return form.Get("client_assertion"), nil
}

func mustApplyFile(t *testing.T, cred credential.Credential, now time.Time) string {
	t.Helper()
	tok, err := applyFile(t, cred, now)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	return tok
}

var (
	t0     = time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
	mtime0 = time.Date(2030, 6, 1, 11, 0, 0, 0, time.UTC)
)

func TestAssertionFileServesTheTrimmedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	tok := jwtExp(t0.Add(time.Hour), "a")
	writeFile(t, path, "\n  "+tok+"\r\n", mtime0)
	if got := mustApplyFile(t, credential.AssertionFile(path), t0); got != tok {
		t.Errorf("sent %q, want the file's JWT without the white space", got)
	}
}

func TestAssertionFileKeepsTheTokenWhileTheFileIsUnchanged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	a, b := jwtExp(t0.Add(time.Hour), "a"), jwtExp(t0.Add(time.Hour), "b")
	writeFile(t, path, a, mtime0)
	cred := credential.AssertionFile(path)
	if got := mustApplyFile(t, cred, t0); got != a {
		t.Fatal("first Apply did not send the file's token")
	}
	// Same size, same modification time: the stat shows no change, so
	// the kept token is sent without reading the file.
	writeFile(t, path, b, mtime0)
	if got := mustApplyFile(t, cred, t0); got != a {
		t.Error("the file was read again although its stat did not change")
	}
	// A new modification time makes it read again.
	writeFile(t, path, b, mtime0.Add(time.Second))
	if got := mustApplyFile(t, cred, t0); got != b {
		t.Error("the file was not read again after its modification time changed")
	}
}

func TestAssertionFileRereadsWhenTheSizeChanges(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	a, b := jwtExp(t0.Add(time.Hour), "a"), jwtExp(t0.Add(time.Hour), "longer tag")
	writeFile(t, path, a, mtime0)
	cred := credential.AssertionFile(path)
	mustApplyFile(t, cred, t0)
	writeFile(t, path, b, mtime0) // same time, other size
	if got := mustApplyFile(t, cred, t0); got != b {
		t.Error("the file was not read again after its size changed")
	}
}

func TestAssertionFileRereadsWhenTheKeptTokenExpires(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	a, b := jwtExp(t0.Add(time.Hour), "a"), jwtExp(t0.Add(3*time.Hour), "b")
	writeFile(t, path, a, mtime0)
	cred := credential.AssertionFile(path)
	mustApplyFile(t, cred, t0)
	writeFile(t, path, b, mtime0) // a stat cannot see this change
	if got := mustApplyFile(t, cred, t0.Add(59*time.Minute)); got != a {
		t.Error("a kept token that has not expired was not sent")
	}
	if got := mustApplyFile(t, cred, t0.Add(time.Hour)); got != b {
		t.Error("a kept token was sent at its exp instead of reading the file again")
	}
}

func TestAssertionFileNeverSendsAnExpiredToken(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	exp := t0.Add(time.Hour)
	tok := jwtExp(exp, "a")
	writeFile(t, path, tok, mtime0)
	cred := credential.AssertionFile(path)
	for _, tt := range []struct {
		name string
		now  time.Time
		ok   bool
	}{
		{"a_second_before_exp", exp.Add(-time.Second), true},
		{"at_exp", exp, false},
		{"after_exp", exp.Add(time.Minute), false},
		{"before_exp_again", exp.Add(-time.Minute), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := applyFile(t, cred, tt.now)
			if tt.ok {
				if err != nil || got != tok {
					t.Errorf("Apply = %v, want the token", err)
				}
				return
			}
			if !errors.Is(err, credential.ErrAssertionExpired) {
				t.Fatalf("err = %v, want ErrAssertionExpired", err)
			}
			assertNoLeak(t, "error", err.Error(), tok, strings.Split(tok, ".")[1])
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

func TestAssertionFileWithoutExpIsSentAsItIs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	tok := fakeJWT(`{"iss":"x","sub":"y","aud":"z"}`)
	writeFile(t, path, tok, mtime0)
	cred := credential.AssertionFile(path)
	for _, now := range []time.Time{t0, t0.AddDate(100, 0, 0)} {
		if got := mustApplyFile(t, cred, now); got != tok {
			t.Errorf("at %v: sent %q", now, got)
		}
	}
}

func TestAssertionFileFractionalExp(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	exp := t0.Unix()
	writeFile(t, path, fakeJWT(fmt.Sprintf(`{"exp":%d.5}`, exp)), mtime0)
	cred := credential.AssertionFile(path)
	if _, err := applyFile(t, cred, time.Unix(exp, 400e6)); err != nil {
		t.Errorf("0.1 s before a fractional exp: %v", err)
	}
	if _, err := applyFile(t, cred, time.Unix(exp, 500e6)); !errors.Is(err, credential.ErrAssertionExpired) {
		t.Errorf("at a fractional exp: %v, want ErrAssertionExpired", err)
	}
}

// TestAssertionFileFollowsKubeletSymlinkSwaps rotates the token the way the
// kubelet updates a projected volume: token -> ..data/token, with ..data a
// symlink swapped atomically to a new timestamped directory.
func TestAssertionFileFollowsKubeletSymlinkSwaps(t *testing.T) {
	dir := t.TempDir()
	publish := func(name, tok string, mtime time.Time) {
		t.Helper()
		if err := os.Mkdir(filepath.Join(dir, name), 0o700); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, name, "token"), tok, mtime)
		tmp := filepath.Join(dir, "..data_tmp")
		if err := os.Symlink(name, tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	a, b := jwtExp(t0.Add(time.Hour), "a"), jwtExp(t0.Add(2*time.Hour), "b")
	publish("..2030_06_01_11_00_00.1", a, mtime0)
	if err := os.Symlink(filepath.Join("..data", "token"), filepath.Join(dir, "token")); err != nil {
		t.Fatal(err)
	}
	cred := credential.AssertionFile(filepath.Join(dir, "token"))
	if got := mustApplyFile(t, cred, t0); got != a {
		t.Fatal("did not send the first token")
	}
	publish("..2030_06_01_11_48_00.2", b, mtime0.Add(48*time.Minute))
	if got := mustApplyFile(t, cred, t0.Add(50*time.Minute)); got != b {
		t.Error("did not send the rotated token")
	}
}

func TestAssertionFileErrors(t *testing.T) {
	enc := base64.RawURLEncoding.EncodeToString
	goodHeader := enc([]byte(`{"alg":"RS256"}`))
	secretClaims := `{"exp":1,"secret":"do-not-print-me"}`
	tests := []struct {
		name string
		data *string // nil: no file
		want error
	}{
		{"no_file", nil, fs.ErrNotExist},
		{"empty_file", ptr(""), credential.ErrEmptyAssertion},
		{"white_space_only", ptr(" \n\t\n"), credential.ErrEmptyAssertion},
		{"opaque_token", ptr("opaque-access-token-value"), credential.ErrMalformedAssertion},
		{"two_parts", ptr(goodHeader + "." + enc([]byte(`{}`))), credential.ErrMalformedAssertion},
		{"JWE_five_parts", ptr("a.b.c.d.e"), credential.ErrMalformedAssertion},
		{"header_not_base64url", ptr("!!!." + enc([]byte(`{}`)) + ".sig"), credential.ErrMalformedAssertion},
		{"padded_base64url", ptr(goodHeader + "." + base64.URLEncoding.EncodeToString([]byte(`{"exp":12}`)) + ".sig"), credential.ErrMalformedAssertion},
		{"header_not_JSON", ptr(enc([]byte("not json")) + "." + enc([]byte(`{}`)) + ".sig"), credential.ErrMalformedAssertion},
		{"claims_a_JSON_array", ptr(goodHeader + "." + enc([]byte(`[1,2]`)) + ".sig"), credential.ErrMalformedAssertion},
		{"claims_null", ptr(goodHeader + "." + enc([]byte(`null`)) + ".sig"), credential.ErrMalformedAssertion},
		{"exp_a_string", ptr(goodHeader + "." + enc([]byte(`{"exp":"1999999999"}`)) + ".sig"), credential.ErrMalformedAssertion},
		{"exp_negative", ptr(goodHeader + "." + enc([]byte(`{"exp":-5}`)) + ".sig"), credential.ErrMalformedAssertion},
		{"exp_too_large", ptr(goodHeader + "." + enc([]byte(`{"exp":1e300}`)) + ".sig"), credential.ErrMalformedAssertion},
		{"expired_with_secret_claims", ptr(goodHeader + "." + enc([]byte(secretClaims)) + ".sig"), credential.ErrAssertionExpired},
		{"larger_than_1_MiB", ptr(goodHeader + "." + strings.Repeat("A", 1<<20) + ".sig"), credential.ErrMalformedAssertion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "token")
			if tt.data != nil {
				writeFile(t, path, *tt.data, mtime0)
			}
			_, err := applyFile(t, credential.AssertionFile(path), t0)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if tt.data != nil && len(*tt.data) > 8 {
				assertNoLeak(t, "error", err.Error(), strings.TrimSpace(*tt.data), "do-not-print-me", enc([]byte(secretClaims)))
			}
			if len(err.Error()) > 300 {
				t.Errorf("error is %d bytes long", len(err.Error()))
			}
		})
	}
	t.Run("path_is_a_directory", func(t *testing.T) {
		if _, err := applyFile(t, credential.AssertionFile(t.TempDir()), t0); err == nil {
			t.Error("a directory was read as an assertion")
		}
	})
	t.Run("empty_path", func(t *testing.T) {
		if _, err := applyFile(t, credential.AssertionFile(""), t0); !errors.Is(err, credential.ErrEmptyAssertion) {
			t.Errorf("err = %v, want ErrEmptyAssertion", err)
		}
	})
	t.Run("canceled_context", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "token")
		writeFile(t, path, jwtExp(t0.Add(time.Hour), "a"), mtime0)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := credential.AssertionFile(path).Apply(ctx, credential.Request{Now: t0}, url.Values{}, http.Header{}); !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	})
}

func ptr(s string) *string { return &s }

func TestAssertionFileRecoversWhenTheFileIsFixed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	good := jwtExp(t0.Add(time.Hour), "a")
	writeFile(t, path, good, mtime0)
	cred := credential.AssertionFile(path)
	mustApplyFile(t, cred, t0)
	writeFile(t, path, "garbage", mtime0.Add(time.Second))
	if _, err := applyFile(t, cred, t0); !errors.Is(err, credential.ErrMalformedAssertion) {
		t.Fatalf("err = %v, want ErrMalformedAssertion (the kept token must not hide a broken file)", err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := applyFile(t, cred, t0); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err = %v, want fs.ErrNotExist", err)
	}
	writeFile(t, path, good, mtime0.Add(2*time.Second))
	if got := mustApplyFile(t, cred, t0); got != good {
		t.Error("did not recover once the file was fixed")
	}
}

// TestAssertionFileConcurrentRotation applies the credential from several
// goroutines while another replaces the file atomically (as the kubelet
// does); run with -race. Every Apply must send one of the published
// tokens.
func TestAssertionFileConcurrentRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "token")
	var published sync.Map
	publish := func(i int) {
		tok := jwtExp(t0.Add(time.Hour), fmt.Sprintf("%04d", i))
		published.Store(tok, true)
		tmp := filepath.Join(dir, fmt.Sprintf("tmp%d", i))
		mt := mtime0.Add(time.Duration(i) * time.Second)
		if err := os.WriteFile(tmp, []byte(tok), 0o600); err != nil {
			t.Error(err)
			return
		}
		if err := os.Chtimes(tmp, mt, mt); err != nil {
			t.Error(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Error(err)
		}
	}
	publish(0)
	cred := credential.AssertionFile(path)
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 1; i <= 50; i++ {
			publish(i)
		}
	})
	for range 4 {
		wg.Go(func() {
			for range 50 {
				form := url.Values{}
				if err := cred.Apply(context.Background(), credential.Request{Now: t0}, form, http.Header{}); err != nil {
					t.Error(err)
					return
				}
				if _, ok := published.Load(form.Get("client_assertion")); !ok {
					t.Error("sent a token that was never published")
					return
				}
			}
		})
	}
	wg.Wait()
	if got := mustApplyFile(t, cred, t0); got != jwtExp(t0.Add(time.Hour), "0050") {
		t.Error("after the last rotation the last token is not sent")
	}
}
