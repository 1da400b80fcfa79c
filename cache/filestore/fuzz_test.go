package filestore_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bearerhttp/bearer/cache"
	"github.com/bearerhttp/bearer/cache/storetest"
)

// FuzzFile writes any bytes as the cache file, then checks what the store
// makes of it: a file that does not decode is reported (an error wrapping
// cache.ErrMalformed from Load, Update and Partitions alike) and never
// changed; a file that decodes takes an Update of one partition and
// keeps every other partition as it was.
func FuzzFile(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range brokenFiles {
		f.Add([]byte(s))
	}
	f.Add(storetest.Document(1, 3))
	f.Add(storetest.Document(2, 3))
	f.Add([]byte("\xEF\xBB\xBF{}"))
	f.Add([]byte(`{"AccessToken":[],"RefreshToken":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := context.Background()
		path := filepath.Join(memTempDir(t), "c.json")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		s := newStoreAt(t, path)
		target := storetest.Partition(1)
		_, loadErr := s.Load(ctx, target)
		before, listErr := s.Partitions(ctx)
		if (loadErr == nil) != (listErr == nil) {
			t.Fatalf("Load = %v but Partitions = %v", loadErr, listErr)
		}
		if loadErr != nil {
			if !errors.Is(loadErr, cache.ErrMalformed) {
				t.Fatalf("Load = %v, want an error wrapping cache.ErrMalformed", loadErr)
			}
			err := s.Update(ctx, target, func([]byte) ([]byte, error) { return storetest.Document(1, 1), nil })
			if !errors.Is(err, cache.ErrMalformed) {
				t.Fatalf("Update of a file Load rejects = %v", err)
			}
			if got := readFile(t, path); !bytes.Equal(got, data) {
				t.Fatalf("a malformed file was changed")
			}
			return
		}
		parts := map[string][]byte{}
		for _, p := range before {
			parts[p] = mustLoad(t, s, p)
		}
		if err := s.Update(ctx, target, func([]byte) ([]byte, error) { return storetest.Document(1, 42), nil }); err != nil {
			t.Fatalf("Update of a file that decodes: %v", err)
		}
		if n := storetest.Counter(t, mustLoad(t, s, target)); n != 42 {
			t.Fatalf("the updated partition's counter is %d, want 42", n)
		}
		// An entry under the key of the written one is replaced by it
		// (keys are one namespace per section): then the others may change.
		if bytes.Contains(bytes.ToLower(data), []byte("accesstoken-storetest-client-tenant-1-")) {
			return
		}
		for p, was := range parts {
			if p == target {
				continue
			}
			now := mustLoad(t, s, p)
			if !sameEntries(t, was, now) {
				t.Fatalf("partition %q changed by an Update of another:\n was %s\n now %s", p, was, now)
			}
		}
		after, err := s.Partitions(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]bool{target: true}
		for _, p := range before {
			want[p] = true
		}
		if len(after) != len(want) {
			t.Fatalf("partitions before %q, after %q", before, after)
		}
		for _, p := range after {
			if !want[p] {
				t.Fatalf("partitions before %q, after %q", before, after)
			}
		}
	})
}

// sameEntries compares two partition documents' entries (app metadata
// aside: every partition's Load carries the file's).
func sameEntries(t *testing.T, a, b []byte) bool {
	t.Helper()
	strip := func(doc []byte) string {
		c := cache.New(cache.WithMaxEntries(0))
		if err := c.UnmarshalMSAL(doc); err != nil {
			t.Fatal(err)
		}
		out, err := c.MarshalMSAL()
		if err != nil {
			t.Fatal(err)
		}
		s := string(out)
		if i := strings.Index(s, `"AppMetadata":`); i >= 0 {
			s = s[:i]
		}
		return s
	}
	return strip(a) == strip(b)
}

// memTempDir returns a temporary directory in memory (tmpfs) where the
// machine has one, for tests of what the store does rather than how
// durably it writes (a disk's fsync costs about 13 ms per write here, and
// makes fuzzing crawl). Elsewhere, t.TempDir.
func memTempDir(t *testing.T) string {
	dir, err := os.MkdirTemp("/dev/shm", "filestore-fuzz-")
	if err != nil {
		return t.TempDir()
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}
