// Package storetest checks that a [cache.Store] keeps the Store contract:
// Load returns what Update stored, partition by partition; Update is an
// atomic read-modify-write, so concurrent writers lose nothing; an Update
// whose function fails stores nothing. The stores of this module run it,
// and so can the stores of its users:
//
//	func TestMyStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) cache.Store { return newMyStore(t) })
//	}
//
// The documents it stores are MSAL cache documents whose entries belong
// to the partition they are stored under, so a store that keeps every
// partition in one document (a file) passes too.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/bearerhttp/bearer/cache"
)

// Run runs the contract's tests as subtests of t, each on a new, empty
// store made by newStore.
func Run(t *testing.T, newStore func(t *testing.T) cache.Store) {
	t.Run("LoadOfNothingStoredIsNil", func(t *testing.T) {
		s := newStore(t)
		got, err := s.Load(context.Background(), Partition(1))
		if err != nil || got != nil {
			t.Fatalf("Load of an empty store = %q, %v; want nil, nil", got, err)
		}
	})
	t.Run("LoadReturnsWhatUpdateStored", func(t *testing.T) {
		s := newStore(t)
		ctx := context.Background()
		var seen []byte
		err := s.Update(ctx, Partition(1), func(old []byte) ([]byte, error) {
			seen = old
			return Document(1, 7), nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if seen != nil {
			t.Errorf("the first Update's function got %q, want nil", seen)
		}
		if n := Counter(t, mustLoad(t, s, Partition(1))); n != 7 {
			t.Errorf("Load after Update: counter %d, want 7", n)
		}
		err = s.Update(ctx, Partition(1), func(old []byte) ([]byte, error) {
			seen = old
			return Document(1, 8), nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if n := Counter(t, seen); n != 7 {
			t.Errorf("the second Update's function got counter %d, want 7", n)
		}
		if n := Counter(t, mustLoad(t, s, Partition(1))); n != 8 {
			t.Errorf("Load after the second Update: counter %d, want 8", n)
		}
	})
	t.Run("PartitionsAreApart", func(t *testing.T) {
		s := newStore(t)
		ctx := context.Background()
		for i := 1; i <= 3; i++ {
			if err := s.Update(ctx, Partition(i), func([]byte) ([]byte, error) { return Document(i, 10*i), nil }); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Update(ctx, Partition(2), func(old []byte) ([]byte, error) { return Document(2, 99), nil }); err != nil {
			t.Fatal(err)
		}
		for i, want := range map[int]int{1: 10, 2: 99, 3: 30} {
			if n := Counter(t, mustLoad(t, s, Partition(i))); n != want {
				t.Errorf("partition %d: counter %d, want %d", i, n, want)
			}
		}
	})
	t.Run("FailedFunctionStoresNothing", func(t *testing.T) {
		s := newStore(t)
		ctx := context.Background()
		if err := s.Update(ctx, Partition(1), func([]byte) ([]byte, error) { return Document(1, 1), nil }); err != nil {
			t.Fatal(err)
		}
		boom := errors.New("boom")
		err := s.Update(ctx, Partition(1), func([]byte) ([]byte, error) { return Document(1, 2), boom })
		if !errors.Is(err, boom) {
			t.Errorf("Update = %v, want the function's error", err)
		}
		if n := Counter(t, mustLoad(t, s, Partition(1))); n != 1 {
			t.Errorf("counter %d after a failed Update, want 1", n)
		}
	})
	t.Run("ConcurrentUpdatesLoseNothing", func(t *testing.T) {
		s := newStore(t)
		const writers, each = 8, 25
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range each {
					err := s.Update(context.Background(), Partition(1), func(old []byte) ([]byte, error) {
						n, err := counter(old)
						if err != nil {
							return nil, err
						}
						return Document(1, n+1), nil
					})
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if n := Counter(t, mustLoad(t, s, Partition(1))); n != writers*each {
			t.Errorf("counter %d after %d increments: updates were lost", n, writers*each)
		}
	})
	t.Run("CancelledContextFails", func(t *testing.T) {
		s := newStore(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := s.Update(ctx, Partition(1), func([]byte) ([]byte, error) { return Document(1, 1), nil })
		if err == nil {
			t.Error("Update with a cancelled context succeeded")
		}
		if got := mustLoad(t, s, Partition(1)); got != nil {
			t.Errorf("Update with a cancelled context stored %q", got)
		}
	})
}

func mustLoad(t *testing.T, s cache.Store, partition string) []byte {
	t.Helper()
	b, err := s.Load(context.Background(), partition)
	if err != nil {
		t.Fatalf("Load(%q): %v", partition, err)
	}
	return b
}

// Partition returns the name of the i-th test partition: the app
// partition of client "storetest-client" in tenant "tenant-<i>".
func Partition(i int) string {
	return cache.AppPartition("storetest-client", "tenant-"+strconv.Itoa(i))
}

// Document returns an MSAL cache document of partition i holding one
// access token whose secret is "counter-<n>".
func Document(i, n int) []byte {
	realm := "tenant-" + strconv.Itoa(i)
	key := "-login.microsoftonline.com-accesstoken-storetest-client-" + realm + "-api://storetest/.default"
	doc := map[string]any{
		"AccessToken": map[string]any{key: map[string]any{
			"home_account_id": nil, "environment": "login.microsoftonline.com", "realm": realm,
			"client_id": "storetest-client", "credential_type": "AccessToken", "target": "api://storetest/.default",
			"secret": "counter-" + strconv.Itoa(n), "token_type": "Bearer",
			"cached_at": "1700000000", "expires_on": "4102444800",
		}},
		"RefreshToken": map[string]any{}, "IdToken": map[string]any{}, "Account": map[string]any{},
		"AppMetadata": map[string]any{"appmetadata-login.microsoftonline.com-storetest-client": map[string]any{
			"client_id": "storetest-client", "environment": "login.microsoftonline.com",
		}},
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic(err)
	}
	return b
}

// Counter returns n of the document [Document] made, failing t when doc
// is not one.
func Counter(t testing.TB, doc []byte) int {
	t.Helper()
	n, err := counter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func counter(doc []byte) (int, error) {
	if doc == nil {
		return 0, nil
	}
	var d struct {
		AccessToken map[string]struct {
			Secret string `json:"secret"`
		}
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		return 0, fmt.Errorf("storetest: a stored document does not decode: %w", err)
	}
	if len(d.AccessToken) != 1 {
		return 0, fmt.Errorf("storetest: a stored document holds %d access tokens, want 1", len(d.AccessToken))
	}
	for _, at := range d.AccessToken {
		var n int
		if _, err := fmt.Sscanf(at.Secret, "counter-%d", &n); err != nil {
			return 0, fmt.Errorf("storetest: the stored secret is not a counter")
		}
		return n, nil
	}
	return 0, nil
}
