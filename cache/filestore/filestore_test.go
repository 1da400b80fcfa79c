package filestore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gofrs/flock"

	"github.com/bearerhttp/bearer/cache"
	"github.com/bearerhttp/bearer/cache/filestore"
	"github.com/bearerhttp/bearer/cache/storetest"
)

var t0 = time.Unix(1_700_000_000, 0)

func newStore(t testing.TB, opts ...filestore.Option) *filestore.Store {
	t.Helper()
	s, err := filestore.New(filepath.Join(t.TempDir(), "msal.cache.json"), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestFileStoreKeepsTheStoreContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) cache.Store { return newStore(t) })
}

func appResponse(tenant, secret string, scopes ...string) cache.Response {
	return cache.Response{
		Environment: "login.microsoftonline.com", Realm: tenant, ClientID: "client",
		Scopes: scopes, AccessToken: secret, ExpiresOn: t0.Add(time.Hour),
	}
}

func appQuery(tenant string, scopes ...string) cache.AccessTokenQuery {
	return cache.AccessTokenQuery{Environment: "login.microsoftonline.com", Realm: tenant, ClientID: "client", Scopes: scopes, CaseInsensitiveScopes: true}
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sections decodes an MSAL cache file's sections, failing t when it is
// not one.
func sections(t testing.TB, data []byte) map[string]map[string]map[string]any {
	t.Helper()
	var doc map[string]map[string]map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("the file is not an MSAL cache: %v", err)
	}
	return doc
}

func TestOneFileHoldsEveryPartition(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	c := cache.New(cache.WithStore(s))
	for _, r := range []cache.Response{
		appResponse("tenant-a", "secret-a", "api://x/.default"),
		appResponse("tenant-b", "secret-b", "api://x/.default"),
	} {
		if err := c.StoreResponse(ctx, r, t0); err != nil {
			t.Fatal(err)
		}
	}
	doc := sections(t, readFile(t, s.Path()))
	if n := len(doc["AccessToken"]); n != 2 {
		t.Fatalf("the file holds %d access tokens, want both partitions' 2", n)
	}
	for _, want := range []string{"AccessToken", "RefreshToken", "IdToken", "Account", "AppMetadata"} {
		if _, ok := doc[want]; !ok {
			t.Errorf("the file has no %s section (MSAL Python expects all five)", want)
		}
	}

	// A restarted process reads each partition on its first miss.
	c2 := cache.New(cache.WithStore(newStoreAt(t, s.Path())))
	for _, tenant := range []string{"tenant-a", "tenant-b"} {
		at, ok := c2.AccessToken(ctx, appQuery(tenant, "api://x/.default"), t0)
		if !ok || at.Secret != "secret-"+strings.TrimPrefix(tenant, "tenant-") {
			t.Errorf("%s after a restart: %v, %v", tenant, at, ok)
		}
	}

	// Load returns the partition's entries only.
	part, err := s.Load(ctx, cache.AppPartition("client", "tenant-a"))
	if err != nil {
		t.Fatal(err)
	}
	pd := sections(t, part)
	if n := len(pd["AccessToken"]); n != 1 {
		t.Errorf("Load of one partition returned %d access tokens, want 1", n)
	}
	if bytes.Contains(part, []byte("secret-b")) {
		t.Error("Load of tenant-a's partition returned tenant-b's token")
	}
	if n := len(pd["AppMetadata"]); n != 1 {
		t.Errorf("Load returned %d app metadata entries, want the file's 1", n)
	}
	names, err := s.Partitions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{cache.AppPartition("client", "tenant-a"), cache.AppPartition("client", "tenant-b")}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Errorf("Partitions = %q, want %q", names, want)
	}
}

func newStoreAt(t testing.TB, path string, opts ...filestore.Option) *filestore.Store {
	t.Helper()
	s, err := filestore.New(path, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestUpdateKeepsEverythingElseInTheFile(t *testing.T) {
	// A file written by MSAL Go with unknown sections, unknown fields and
	// entries this package cannot use: an Update of another partition
	// keeps all of it.
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cache.json")
	orig := readFile(t, filepath.Join("testdata", "test_serialized_cache.json"))
	if err := os.WriteFile(path, orig, 0o600); err != nil {
		t.Fatal(err)
	}
	s := newStoreAt(t, path)
	c := cache.New(cache.WithStore(s))
	if err := c.StoreResponse(ctx, appResponse("tenant-new", "new-secret", "api://x/.default"), t0); err != nil {
		t.Fatal(err)
	}
	after := readFile(t, path)
	var before, now map[string]any
	if err := json.Unmarshal(orig, &before); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(after, &now); err != nil {
		t.Fatal(err)
	}
	for section, v := range before {
		entries, ok := v.(map[string]any)
		if !ok {
			if !jsonEqual(v, now[section]) {
				t.Errorf("section %s changed: %v -> %v", section, v, now[section])
			}
			continue
		}
		for key, e := range entries {
			got := now[section].(map[string]any)[key]
			if !jsonEqual(e, got) {
				t.Errorf("%s entry %q changed:\n was %v\n now %v", section, key, e, got)
			}
		}
	}
	if !bytes.Contains(after, []byte("new-secret")) {
		t.Error("the new token is not in the file")
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func TestFileAndLockAreMode0600(t *testing.T) {
	s := newStore(t)
	if err := s.Update(context.Background(), storetest.Partition(1), func([]byte) ([]byte, error) { return storetest.Document(1, 1), nil }); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{s.Path(), s.Path() + ".lock"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("%s: mode %v, want 0600", filepath.Base(p), m)
		}
	}
	// No temporary file is left behind.
	entries, err := os.ReadDir(filepath.Dir(s.Path()))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

func TestWideModeIsReportedAndTightened(t *testing.T) {
	for _, mode := range []os.FileMode{0o644, 0o660, 0o606, 0o666} {
		t.Run(mode.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "cache.json")
			if err := os.WriteFile(path, storetest.Document(1, 1), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			newStoreAt(t, path, filestore.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if m := fi.Mode().Perm(); m != 0o600 {
				t.Errorf("mode %v after New, want 0600", m)
			}
			if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), path) {
				t.Errorf("no warning naming the file: %q", logs.String())
			}
			if strings.Contains(logs.String(), "counter-1") {
				t.Error("the warning shows what the file holds")
			}
		})
	}
	t.Run("0600IsNotReported", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "cache.json")
		if err := os.WriteFile(path, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		var logs bytes.Buffer
		newStoreAt(t, path, filestore.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
		if logs.Len() != 0 {
			t.Errorf("logged %q for a file of mode 0600", logs.String())
		}
	})
}

// brokenFiles are cache files that do not decode, each holding a secret
// that must appear in no error.
var brokenFiles = map[string]string{
	"truncated":           `{"AccessToken": {"k": {"secret": "SECRET-1", "client_id": "c", "environment": "e"`,
	"truncated mid-entry": `{"AccessToken": {"k": {"secret": "SECR`,
	"not JSON":            `SECRET-2 is not json`,
	"an array":            `["SECRET-3"]`,
	"a string":            `"SECRET-4"`,
	"section not object":  `{"AccessToken": "SECRET-5"}`,
	"trailing data":       `{"AccessToken": {}} {"SECRET-6": 1}`,
	"not UTF-8":           "{\"AccessToken\": {\"k\": {\"secret\": \"SECRET-7\xff\"}}}",
	"NUL bytes":           "\x00\x00\x00SECRET-8",
}

func TestMalformedFileIsReportedAndLeftInPlace(t *testing.T) {
	for name, content := range brokenFiles {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "cache.json")
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			s := newStoreAt(t, path)
			check := func(op string, err error) {
				t.Helper()
				if !errors.Is(err, cache.ErrMalformed) {
					t.Errorf("%s = %v, want an error wrapping cache.ErrMalformed", op, err)
					return
				}
				if !strings.Contains(err.Error(), path) {
					t.Errorf("%s error %q does not name the file", op, err)
				}
				if strings.Contains(err.Error(), "SECRET") {
					t.Errorf("%s error %q shows what the file holds", op, err)
				}
			}
			_, err := s.Load(ctx, storetest.Partition(1))
			check("Load", err)
			ran := false
			err = s.Update(ctx, storetest.Partition(1), func([]byte) ([]byte, error) { ran = true; return storetest.Document(1, 1), nil })
			check("Update", err)
			if ran {
				t.Error("Update ran its function on a file that does not decode")
			}
			_, err = s.Partitions(ctx)
			check("Partitions", err)

			// A cache in front of it keeps serving from memory, and the
			// token call succeeds; the file is never rewritten.
			var logs bytes.Buffer
			c := cache.New(cache.WithStore(s), cache.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
			if err := c.StoreResponse(ctx, appResponse("tenant", "at-secret", "api://x/.default"), t0); err != nil {
				t.Fatal(err)
			}
			if at, ok := c.AccessToken(ctx, appQuery("tenant", "api://x/.default"), t0); !ok || at.Secret != "at-secret" {
				t.Errorf("the cache in front of a malformed file does not serve from memory: %v %v", at, ok)
			}
			if got := readFile(t, path); string(got) != content {
				t.Errorf("the malformed file was changed:\n was %q\n now %q", content, got)
			}
			if !strings.Contains(logs.String(), "level=WARN") {
				t.Errorf("the cache logged no warning: %q", logs.String())
			}
			if strings.Contains(logs.String(), "SECRET") || strings.Contains(logs.String(), "at-secret") {
				t.Errorf("a log line shows a secret: %q", logs.String())
			}
		})
	}
}

func TestEmptyFileIsAnEmptyCache(t *testing.T) {
	for name, content := range map[string]string{"empty": "", "spaces": " \n", "null": "null", "empty object": "{}"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "cache.json")
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			s := newStoreAt(t, path)
			got, err := s.Load(context.Background(), storetest.Partition(1))
			if err != nil || got != nil {
				t.Fatalf("Load = %q, %v; want nil, nil", got, err)
			}
			if err := s.Update(context.Background(), storetest.Partition(1), func(old []byte) ([]byte, error) {
				return storetest.Document(1, 5), nil
			}); err != nil {
				t.Fatal(err)
			}
			if n := storetest.Counter(t, mustLoad(t, s, storetest.Partition(1))); n != 5 {
				t.Errorf("counter %d, want 5", n)
			}
		})
	}
}

func mustLoad(t testing.TB, s cache.Store, p string) []byte {
	t.Helper()
	b, err := s.Load(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLockHeldElsewhereTimesOut(t *testing.T) {
	s := newStore(t, filestore.WithLockTimeout(20*time.Millisecond))
	other := flock.New(s.Path() + ".lock")
	if ok, err := other.TryLock(); !ok || err != nil {
		t.Fatalf("TryLock = %v, %v", ok, err)
	}
	err := s.Update(context.Background(), storetest.Partition(1), func([]byte) ([]byte, error) { return storetest.Document(1, 1), nil })
	if !errors.Is(err, filestore.ErrLockTimeout) {
		t.Fatalf("Update under another holder's lock = %v, want ErrLockTimeout", err)
	}
	if !strings.Contains(err.Error(), s.Path()+".lock") {
		t.Errorf("the error %q does not name the lock file", err)
	}
	if _, err := s.Load(context.Background(), storetest.Partition(1)); !errors.Is(err, filestore.ErrLockTimeout) {
		t.Errorf("Load under another holder's lock = %v, want ErrLockTimeout", err)
	}
	if _, err := os.Stat(s.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the file was written without the lock: %v", err)
	}

	// The context ends the wait too, with its own error.
	s2 := newStoreAt(t, s.Path(), filestore.WithLockTimeout(0))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s2.Load(ctx, storetest.Partition(1)); !errors.Is(err, context.Canceled) || errors.Is(err, filestore.ErrLockTimeout) {
		t.Errorf("Load with a cancelled context = %v, want context.Canceled", err)
	}

	if err := other.Unlock(); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(context.Background(), storetest.Partition(1), func([]byte) ([]byte, error) { return storetest.Document(1, 1), nil }); err != nil {
		t.Errorf("Update once the lock is free: %v", err)
	}
}

func TestNewChecksItsArguments(t *testing.T) {
	dir := t.TempDir()
	for name, tc := range map[string]struct {
		path string
		opts []filestore.Option
	}{
		"empty path":            {path: ""},
		"a directory":           {path: dir},
		"lock is the data file": {path: filepath.Join(dir, "c.json"), opts: []filestore.Option{filestore.WithLockFile(filepath.Join(dir, "c.json"))}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := filestore.New(tc.path, tc.opts...); err == nil {
				t.Error("New succeeded")
			}
		})
	}
	t.Run("the directory is made", func(t *testing.T) {
		path := filepath.Join(dir, "a", "b", "c.json")
		s := newStoreAt(t, path)
		if err := s.Update(context.Background(), storetest.Partition(1), func([]byte) ([]byte, error) { return storetest.Document(1, 1), nil }); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(filepath.Dir(path))
		if err != nil {
			t.Fatal(err)
		}
		if m := fi.Mode().Perm(); m != 0o700 {
			t.Errorf("the directory's mode is %v, want 0700", m)
		}
	})
}
