package cache

import (
	"context"
	"errors"
)

// A Store persists a [Cache] by partition (see [AppPartition],
// [AssertionHash], [UserPartition]): each partition is one MSAL cache JSON
// document holding that identity's entries and the app metadata.
//
// The cache never overwrites a stored document that does not decode (it
// may hold what other apps and other MSAL libraries stored): its Update
// function fails with an error wrapping [ErrMalformed], so Update stores
// nothing. A Store that finds its own stored data malformed (a file store
// splitting one file into partitions) leaves it as it is and returns an
// error wrapping ErrMalformed from Load and Update; the cache then reads
// the partition as empty, logs it, and serves from memory.
//
// Implementations must be safe for concurrent use.
type Store interface {
	// Load returns the partition's document, or nil, nil when nothing is
	// stored.
	Load(ctx context.Context, partition string) ([]byte, error)
	// Update atomically replaces the partition's document with fn's result
	// (a file lock, a Redis transaction): no writer loses another's
	// entries. old is nil when nothing is stored. fn may run more than once
	// (a conflict retries it) and has no side effects; when it returns an
	// error, Update stores nothing and returns that error.
	Update(ctx context.Context, partition string, fn func(old []byte) ([]byte, error)) error
}

// A PartitionLister is a [Store] that can list its partitions. When the
// cache's store implements it, [Cache.Accounts] reads the user partitions
// it has not read yet, so a restarted app sees the accounts it persisted.
type PartitionLister interface {
	Partitions(ctx context.Context) ([]string, error)
}

// ErrStore is matched (with [errors.Is]) by every [*StoreError].
var ErrStore = errors.New("cache: store failed")

// StoreError reports that the cache's [Store] failed. The in-memory cache
// was changed regardless.
type StoreError struct {
	// Op is the store operation: "load", "update" or "list".
	Op string
	// Err is the store's error.
	Err error
}

// Error returns "cache: store <op> failed: <err>".
func (e *StoreError) Error() string { return "cache: store " + e.Op + " failed: " + e.Err.Error() }

// Unwrap returns the store's error.
func (e *StoreError) Unwrap() error { return e.Err }

// Is reports whether target is [ErrStore].
func (e *StoreError) Is(target error) bool { return target == ErrStore }
