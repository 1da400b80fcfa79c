package filestore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/bearerhttp/bearer/cache"
	"github.com/bearerhttp/bearer/cache/filestore"
)

// The interoperability tests read files MSAL Go and MSAL Python wrote
// (testdata), and run MSAL Python itself on the store's files.

// TestReadsEveryPartitionOfMSALFiles: each file MSAL wrote is read,
// partition by partition, as a whole: every entry the cache can use is
// in exactly one partition's document.
func TestReadsEveryPartitionOfMSALFiles(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	if len(files) < 5 {
		t.Fatalf("%d fixtures, want the 4 of MSAL Go and MSAL Python's", len(files))
	}
	for _, name := range files {
		t.Run(filepath.Base(name), func(t *testing.T) {
			ctx := context.Background()
			data := readFile(t, name)
			whole := cache.New(cache.WithMaxEntries(0))
			if err := whole.UnmarshalMSAL(data); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "cache.json")
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			s := newStoreAt(t, path)
			names, err := s.Partitions(ctx)
			if err != nil {
				t.Fatal(err)
			}
			sum := 0
			for _, p := range names {
				part := cache.New(cache.WithMaxEntries(0))
				if err := part.UnmarshalMSAL(mustLoad(t, s, p)); err != nil {
					t.Fatal(err)
				}
				sum += part.Stats().Entries
			}
			if want := whole.Stats().Entries; sum != want || want == 0 {
				t.Errorf("the partitions hold %d entries, the file %d", sum, want)
			}
			if got := readFile(t, path); !bytes.Equal(got, data) {
				t.Error("reading changed the file")
			}
		})
	}
}

// TestReadsMSALPythonsFile reads the file MSAL Python 1.21.0 wrote
// (testdata), at the time it was written.
func TestReadsMSALPythonsFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cache.json")
	data := readFile(t, filepath.Join("testdata", "msal_python_1.21.0.json"))
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	checkPythonTokens(t, newStoreAt(t, path), cachedAt(t, data))
}

// cachedAt returns the cached_at of a file's access tokens.
func cachedAt(t *testing.T, data []byte) time.Time {
	t.Helper()
	for _, e := range sections(t, data)["AccessToken"] {
		n, err := strconv.ParseInt(e["cached_at"].(string), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return time.Unix(n, 0)
	}
	t.Fatal("no access token")
	return time.Time{}
}

// checkPythonTokens looks up, through a cache in front of s, the tokens
// msal_python.py writes.
func checkPythonTokens(t *testing.T, s *filestore.Store, now time.Time) {
	t.Helper()
	ctx := context.Background()
	c := cache.New(cache.WithStore(s))
	env := "login.microsoftonline.com"
	if at, ok := c.AccessToken(ctx, cache.AccessTokenQuery{Environment: env, Realm: "tenant", ClientID: "client",
		Scopes: []string{"api://x/.default"}, CaseInsensitiveScopes: true}, now); !ok || at.Secret != "python-app-at" {
		t.Errorf("MSAL Python's app token: %v, %v", at, ok)
	}
	if at, ok := c.AccessToken(ctx, cache.AccessTokenQuery{Environment: env, Realm: "tenant", ClientID: "client",
		HomeAccountID: "uid.utid", Scopes: []string{"User.Read"}, CaseInsensitiveScopes: true}, now); !ok || at.Secret != "python-user-at" {
		t.Errorf("MSAL Python's user token: %v, %v", at, ok)
	}
	if rt, ok := c.RefreshToken(ctx, cache.RefreshTokenQuery{Environment: env, ClientID: "client", HomeAccountID: "uid.utid"}); !ok || rt.Secret != "python-rt" {
		t.Errorf("MSAL Python's refresh token: %v, %v", rt, ok)
	}
	accts := c.Accounts(ctx, cache.AccountFilter{Environment: env, ClientID: "client"})
	if len(accts) != 1 || accts[0].Username != "alice@contoso.com" {
		t.Errorf("MSAL Python's accounts: %v", accts)
	}
}

// msalPython returns a Python interpreter that imports msal. Without one,
// the test is skipped, or fails under CI=true (CI installs python3-msal).
func msalPython(t *testing.T) string {
	t.Helper()
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(py, "-c", "import msal").Run() == nil {
			return py
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no python3 that imports msal (CI installs it: apt-get install python3-msal)")
	}
	t.Skip("no python3 that imports msal (apt-get install python3-msal)")
	return ""
}

func runPython(t *testing.T, py string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(py, append([]string{filepath.Join("testdata", "msal_python.py")}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("msal_python.py %v: %v\n%s", args, err, stderr.String())
	}
	return out
}

// TestMSALPythonReadsOurFile writes a user's and an app's tokens through
// a cache in front of the file store (the second write merging into the
// file), then has MSAL Python read the file and look them up as its
// acquire_token_* do.
func TestMSALPythonReadsOurFile(t *testing.T) {
	py := msalPython(t)
	ctx := context.Background()
	s := newStore(t)
	c := cache.New(cache.WithStore(s))
	now := time.Now()
	user := cache.Response{
		Environment: "login.microsoftonline.com", Realm: "tenant", ClientID: "client", HomeAccountID: "uid.utid",
		Scopes: []string{"User.Read"}, AccessToken: "our-user-at", ExpiresOn: now.Add(time.Hour),
		RefreshToken: "our-rt", IDToken: "header.e30.sig",
		Account: &cache.Account{Username: "alice@contoso.com", LocalAccountID: "oid-1"},
	}
	app := cache.Response{
		Environment: "login.microsoftonline.com", Realm: "tenant", ClientID: "client",
		Scopes: []string{"api://x/.default"}, AccessToken: "our-app-at", ExpiresOn: now.Add(time.Hour),
	}
	for _, r := range []cache.Response{user, app} {
		if err := c.StoreResponse(ctx, r, now); err != nil {
			t.Fatal(err)
		}
	}
	var got struct {
		AppAT     []string `json:"app_at"`
		UserAT    []string `json:"user_at"`
		RT        []string `json:"rt"`
		Usernames []string `json:"usernames"`
		Sections  []string `json:"sections"`
	}
	if err := json.Unmarshal(runPython(t, py, "read", s.Path()), &got); err != nil {
		t.Fatal(err)
	}
	want := `{["our-app-at"] ["our-user-at"] ["our-rt"] ["alice@contoso.com"] ["AccessToken" "Account" "AppMetadata" "IdToken" "RefreshToken"]}`
	if g := jsonish(got.AppAT, got.UserAT, got.RT, got.Usernames, got.Sections); g != want {
		t.Errorf("MSAL Python found %s, want %s", g, want)
	}
}

func jsonish(parts ...[]string) string {
	out := "{"
	for i, p := range parts {
		if i > 0 {
			out += " "
		}
		b, _ := json.Marshal(p)
		out += string(bytes.ReplaceAll(b, []byte(","), []byte(" ")))
	}
	return out + "}"
}

// TestReadsWhatMSALPythonWrites has MSAL Python write a file now, then
// reads it through the file store; then writes to it and has MSAL Python
// read it again.
func TestReadsWhatMSALPythonWrites(t *testing.T) {
	py := msalPython(t)
	path := filepath.Join(t.TempDir(), "cache.json")
	runPython(t, py, "write", path)
	s := newStoreAt(t, path)
	checkPythonTokens(t, s, time.Now())

	// A token of another tenant written by the store leaves MSAL Python's
	// entries where MSAL Python finds them.
	c := cache.New(cache.WithStore(s))
	if err := c.StoreResponse(context.Background(), cache.Response{
		Environment: "login.microsoftonline.com", Realm: "other", ClientID: "client",
		Scopes: []string{"api://x/.default"}, AccessToken: "ours", ExpiresOn: time.Now().Add(time.Hour),
	}, time.Now()); err != nil {
		t.Fatal(err)
	}
	var got struct {
		AppAT  []string `json:"app_at"`
		UserAT []string `json:"user_at"`
		RT     []string `json:"rt"`
	}
	if err := json.Unmarshal(runPython(t, py, "read", path), &got); err != nil {
		t.Fatal(err)
	}
	if g := jsonish(got.AppAT, got.UserAT, got.RT); g != `{["python-app-at"] ["python-user-at"] ["python-rt"]}` {
		t.Errorf("after our write, MSAL Python finds %s", g)
	}
}
