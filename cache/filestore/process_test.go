package filestore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bearerhttp/bearer/cache"
	"github.com/bearerhttp/bearer/cache/filestore"
	"github.com/bearerhttp/bearer/cache/storetest"
)

// The child processes of the tests below are this test binary again,
// running TestChildProcess with the environment variables below.
const (
	envChild   = "FILESTORE_TEST_CHILD"   // the child's number
	envPath    = "FILESTORE_TEST_PATH"    // the cache file
	envWrites  = "FILESTORE_TEST_WRITES"  // how many writes
	envShared  = "FILESTORE_TEST_SHARED"  // the shared partition's number
	envWriters = "FILESTORE_TEST_WRITERS" // how many children
)

// TestChildProcess is a child of TestProcessesLoseNoWrite, not a test of
// its own. Child i makes envWrites writes of two kinds, alternately:
//
//   - to its own partition (i): the counter goes from n-1 to n, and the
//     Update's function checks that it finds n-1, its own previous write;
//   - to the partition every child shares: its own access token there
//     (scope child-i) goes from n-1 to n, and the function checks that the
//     token is there with n-1, and that no other child's token went back.
//
// Any lost write, torn file or write outside the lock fails a check, and
// the child exits non-zero with the reason.
func TestChildProcess(t *testing.T) {
	id := os.Getenv(envChild)
	if id == "" {
		t.Skip("run as a child process by TestProcessesLoseNoWrite")
	}
	i, _ := strconv.Atoi(id)
	writes, _ := strconv.Atoi(os.Getenv(envWrites))
	shared, _ := strconv.Atoi(os.Getenv(envShared))
	s, err := filestore.New(os.Getenv(envPath), filestore.WithLockTimeout(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	seen := map[string]int{} // the highest counter seen of each child in the shared partition
	for n := 1; n <= writes; n++ {
		if n%2 == 1 {
			err = s.Update(ctx, storetest.Partition(i), func(old []byte) ([]byte, error) {
				if got, want := storetest.Counter(t, old), n-2; got != max(want, 0) {
					return nil, fmt.Errorf("child %d, write %d: own partition at %d, want %d: a write was lost", i, n, got, max(want, 0))
				}
				return storetest.Document(i, n), nil
			})
		} else {
			err = s.Update(ctx, storetest.Partition(shared), func(old []byte) ([]byte, error) {
				counters, err := sharedCounters(old)
				if err != nil {
					return nil, err
				}
				me := "child-" + id
				if got, want := counters[me], n-2; got != want {
					return nil, fmt.Errorf("child %d, write %d: its token in the shared partition at %d, want %d: a write was lost", i, n, got, want)
				}
				for who, c := range counters {
					if c < seen[who] {
						return nil, fmt.Errorf("child %d, write %d: %s went back from %d to %d in the shared partition: a write was lost", i, n, who, seen[who], c)
					}
					seen[who] = c
				}
				counters[me] = n
				return sharedDocument(shared, counters), nil
			})
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
	}
}

// sharedCounters reads the counters of the shared partition's document:
// one access token per child, scope child-<i>, secret its counter.
func sharedCounters(doc []byte) (map[string]int, error) {
	out := map[string]int{}
	if doc == nil {
		return out, nil
	}
	var d struct {
		AccessToken map[string]struct {
			Target string `json:"target"`
			Secret string `json:"secret"`
		}
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, err
	}
	for _, at := range d.AccessToken {
		n, err := strconv.Atoi(at.Secret)
		if err != nil {
			return nil, fmt.Errorf("a counter that is not a number")
		}
		out[at.Target] = n
	}
	return out, nil
}

// sharedDocument is the shared partition's document for counters.
func sharedDocument(i int, counters map[string]int) []byte {
	c := cache.New()
	for who, n := range counters {
		r := cache.Response{
			Environment: "login.microsoftonline.com", Realm: "tenant-" + strconv.Itoa(i), ClientID: "storetest-client",
			Scopes: []string{who}, AccessToken: strconv.Itoa(n), ExpiresOn: t0.Add(time.Hour),
		}
		if err := c.StoreResponse(context.Background(), r, t0); err != nil {
			panic(err)
		}
	}
	b, err := c.MarshalMSAL()
	if err != nil {
		panic(err)
	}
	return b
}

// TestProcessesLoseNoWrite runs 8 processes that make 200 writes each to
// one cache file, half of them to a partition they all share, and checks
// that no write was lost (each child checks it at every write, see
// TestChildProcess), and that the file holds every child's last write.
func TestProcessesLoseNoWrite(t *testing.T) {
	if os.Getenv(envChild) != "" {
		t.Skip("in a child")
	}
	const children, writes, shared = 8, 200, 100
	// In memory where the machine has a tmpfs: the test is about locking
	// and atomic replacement between processes, and a disk's fsync (about
	// 13 ms a write here, two per write) would make its 1600 writes take
	// 20 s without checking anything more.
	path := filepath.Join(memTempDir(t), "msal.cache.json")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, children)
	outs := make([]bytes.Buffer, children)
	for i := 1; i <= children; i++ {
		cmd := exec.Command(exe, "-test.run=^TestChildProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(),
			envChild+"="+strconv.Itoa(i), envPath+"="+path, envWrites+"="+strconv.Itoa(writes),
			envShared+"="+strconv.Itoa(shared), envWriters+"="+strconv.Itoa(children))
		cmd.Stdout, cmd.Stderr = &outs[i-1], &outs[i-1]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i-1] = cmd.Wait()
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("child %d: %v\n%s", i+1, err, outs[i].String())
		}
	}
	if t.Failed() {
		return
	}
	s, err := filestore.New(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= children; i++ {
		if n := storetest.Counter(t, mustLoad(t, s, storetest.Partition(i))); n != writes-1 {
			t.Errorf("child %d's partition at %d, want its last write %d", i, n, writes-1)
		}
	}
	counters, err := sharedCounters(mustLoad(t, s, storetest.Partition(shared)))
	if err != nil {
		t.Fatal(err)
	}
	if len(counters) != children {
		t.Errorf("the shared partition holds %d children's tokens, want %d", len(counters), children)
	}
	for who, n := range counters {
		if n != writes {
			t.Errorf("%s's token in the shared partition at %d, want %d", who, n, writes)
		}
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}
