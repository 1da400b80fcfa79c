package filestore

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gofrs/flock"
)

// TestLockWaitsGrowToACap checks the waits between tries of a lock that
// another process holds: doubling from 1 ms to a 25 ms cap, and a timeout
// error once the lock timeout has passed. No real time passes: the waits
// are recorded, and the other holder lets go after the seventh.
func TestLockWaitsGrowToACap(t *testing.T) {
	s, err := New(filepath.Join(t.TempDir(), "c.json"), WithLockTimeout(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	other := flock.New(s.lockPath)
	if ok, err := other.TryLock(); !ok || err != nil {
		t.Fatalf("TryLock = %v, %v", ok, err)
	}
	var waits []time.Duration
	s.wait = func(ctx context.Context, d time.Duration) error {
		waits = append(waits, d)
		if len(waits) == 7 {
			return other.Unlock()
		}
		return nil
	}
	unlock, err := s.acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	want := []time.Duration{1, 2, 4, 8, 16, 25, 25}
	for i := range want {
		want[i] *= time.Millisecond
	}
	if !slices.Equal(waits, want) {
		t.Errorf("waits %v, want %v", waits, want)
	}
}

// TestLockTimeoutEndsTheWait checks that the wait ends with ErrLockTimeout
// when the lock timeout passes, not with the context's error: the wait
// function sees its context end.
func TestLockTimeoutEndsTheWait(t *testing.T) {
	s, err := New(filepath.Join(t.TempDir(), "c.json"), WithLockTimeout(time.Nanosecond))
	if err != nil {
		t.Fatal(err)
	}
	other := flock.New(s.lockPath)
	if ok, err := other.TryLock(); !ok || err != nil {
		t.Fatalf("TryLock = %v, %v", ok, err)
	}
	defer other.Unlock()
	s.wait = func(ctx context.Context, d time.Duration) error {
		<-ctx.Done() // the lock timeout ends it
		return ctx.Err()
	}
	_, err = s.acquire(context.Background())
	if !errors.Is(err, ErrLockTimeout) {
		t.Fatalf("acquire = %v, want ErrLockTimeout", err)
	}
	select {
	case s.sem <- struct{}{}:
		<-s.sem
	default:
		t.Error("a timed-out acquire kept the store's own lock")
	}
}
