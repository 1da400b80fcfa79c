// Package filestore is a [cache.Store] that keeps a token cache in one
// file in the MSAL unified cache format, which MSAL Go, MSAL Python and
// msal-extensions read and write: a daemon's or a command-line tool's
// tokens survive a restart, and several processes on one machine share
// them.
//
// Every partition of the cache lives in the one file. Load reads a
// partition's entries from it; Update rewrites that partition's entries
// and keeps everything else the file holds (other partitions, other
// applications' entries, entries and sections this package does not
// understand).
//
// # Safety
//
//   - Writes are atomic: the new file is written to a temporary file in
//     the same directory, synced, renamed over the old one, and the
//     directory is synced. A reader sees the old file or the new one,
//     never a mix, and a crash leaves one of them.
//   - Processes exclude each other with an advisory lock (flock) on a
//     sidecar file, path + ".lock" (the data file itself cannot carry the
//     lock: a rename swaps its inode). The wait for the lock is bounded
//     ([WithLockTimeout]); past it, the operation fails with an error
//     wrapping [ErrLockTimeout] that names the lock file.
//   - The file and its lock are created with mode 0600. An existing file
//     readable or writable by others is reported (a warning, see
//     [WithLogger]) and its mode is tightened to 0600 by [New].
//   - A file that does not decode (corrupt, truncated, not an MSAL cache)
//     is never overwritten: Load and Update return an error wrapping
//     [cache.ErrMalformed] that names the file, and the file is left byte
//     for byte as it was, so whatever it holds can be recovered by hand.
//     An empty file is an empty cache.
package filestore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/gofrs/flock"

	"github.com/bearerhttp/bearer/cache"
)

// DefaultLockTimeout is how long an operation waits for the file lock
// when [WithLockTimeout] does not say.
const DefaultLockTimeout = 10 * time.Second

// ErrLockTimeout is wrapped by the error of an operation that could not
// take the file lock within the lock timeout ([WithLockTimeout]): another
// process holds it (or a process stopped while holding it on a file
// system whose locks outlive their holder).
var ErrLockTimeout = errors.New("filestore: timed out waiting for the cache file lock")

// Store is a [cache.Store] (and [cache.PartitionLister]) backed by one
// MSAL cache file. It is safe for concurrent use by many goroutines and
// many processes (each with its own Store for the same path).
type Store struct {
	path        string
	lockPath    string
	lockTimeout time.Duration
	log         *slog.Logger

	// sem serializes this Store's use of its lock: an flock is held by an
	// open file, not by a goroutine. A channel, so the wait is bounded.
	sem  chan struct{}
	lock *flock.Flock

	// wait pauses between two tries of the lock; tests replace it to see
	// the waits asked for.
	wait func(ctx context.Context, d time.Duration) error
}

// An Option configures a [Store] made by [New].
type Option func(*Store)

// WithLockTimeout bounds the wait for the file lock of one operation
// (default [DefaultLockTimeout]). The operation's context may end it
// sooner. d <= 0 removes the bound: only the context ends the wait.
func WithLockTimeout(d time.Duration) Option {
	return func(s *Store) { s.lockTimeout = d }
}

// WithLockFile sets the lock file (default: the data file's path +
// ".lock"). Every process sharing the file must use the same one; to
// share a file with msal-extensions (Python), which locks path +
// ".lockfile", use that.
func WithLockFile(path string) Option {
	return func(s *Store) { s.lockPath = path }
}

// WithLogger sets where the store reports what it finds wrong with the
// file (a mode wider than 0600). The default is [slog.Default]. Nothing
// the file holds is ever logged.
func WithLogger(l *slog.Logger) Option {
	return func(s *Store) { s.log = l }
}

// New returns a store of the cache file at path, which need not exist yet
// (its directory is made, mode 0700, when missing). New does not read the
// file: a malformed file is reported by the first Load or Update. When the
// file exists with a mode that lets others read or write it, New logs a
// warning and sets its mode to 0600.
func New(path string, opts ...Option) (*Store, error) {
	if path == "" {
		return nil, errors.New("filestore: empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("filestore: %w", err)
	}
	s := &Store{
		path:        abs,
		lockTimeout: DefaultLockTimeout,
		sem:         make(chan struct{}, 1),
		wait:        sleep,
	}
	for _, o := range opts {
		o(s)
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.lockPath == "" {
		s.lockPath = s.path + ".lock"
	} else if s.lockPath, err = filepath.Abs(s.lockPath); err != nil {
		return nil, fmt.Errorf("filestore: lock file: %w", err)
	}
	if s.lockPath == s.path {
		return nil, errors.New("filestore: the lock file cannot be the data file (a rename replaces it)")
	}
	if err := os.MkdirAll(filepath.Dir(s.path), 0o700); err != nil {
		return nil, fmt.Errorf("filestore: %w", err)
	}
	fi, err := os.Stat(s.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("filestore: %w", err)
	case fi.IsDir():
		return nil, fmt.Errorf("filestore: %s is a directory", s.path)
	case fi.Mode().Perm()&0o077 != 0:
		s.log.LogAttrs(context.Background(), slog.LevelWarn, "filestore: the token cache file was readable or writable by others; its mode is now 0600",
			slog.String("path", s.path), slog.String("mode", fi.Mode().Perm().String()))
		if err := os.Chmod(s.path, 0o600); err != nil {
			return nil, fmt.Errorf("filestore: tightening the mode of %s: %w", s.path, err)
		}
	}
	s.lock = flock.New(s.lockPath, flock.SetPermissions(0o600))
	return s, nil
}

// Path returns the absolute path of the cache file.
func (s *Store) Path() string { return s.path }

// Load returns the entries of partition that the file holds, with the
// file's app metadata, as an MSAL cache document; nil, nil when the file
// does not exist or holds nothing of partition. It reads under the lock,
// so it never sees a writer's half-written file, ours or another
// library's that writes in place under the same lock.
func (s *Store) Load(ctx context.Context, partition string) ([]byte, error) {
	unlock, err := s.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	data, err := s.read()
	if err != nil {
		return nil, err
	}
	doc, err := cache.PartitionDocument(data, partition)
	if err != nil {
		return nil, s.malformed(err)
	}
	return doc, nil
}

// Update replaces the entries of partition in the file with those of the
// document fn returns, given the partition's current document (nil when
// there is none), keeping everything else in the file. It holds the lock
// from the read to the rename, so fn runs once and no writer loses
// another's entries. When fn fails, or the file does not decode (the
// error wraps [cache.ErrMalformed]), nothing is written. A result that
// leaves the file as it was writes nothing.
func (s *Store) Update(ctx context.Context, partition string, fn func(old []byte) ([]byte, error)) error {
	unlock, err := s.acquire(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	data, err := s.read()
	if err != nil {
		return err
	}
	old, err := cache.PartitionDocument(data, partition)
	if err != nil {
		return s.malformed(err)
	}
	part, err := fn(old)
	if err != nil {
		return err
	}
	next, err := cache.ReplacePartition(data, partition, part)
	if err != nil {
		if errors.Is(err, cache.ErrMalformed) {
			// The file decoded above: what fn returned does not.
			return fmt.Errorf("filestore: the new document of a partition: %w", err)
		}
		return fmt.Errorf("filestore: %w", err)
	}
	if bytes.Equal(next, data) {
		return nil
	}
	return s.replace(next)
}

// Partitions returns the partitions the file holds entries of, sorted.
func (s *Store) Partitions(ctx context.Context) ([]string, error) {
	unlock, err := s.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	data, err := s.read()
	if err != nil {
		return nil, err
	}
	names, err := cache.DocumentPartitions(data)
	if err != nil {
		return nil, s.malformed(err)
	}
	return names, nil
}

func (s *Store) malformed(err error) error {
	return fmt.Errorf("filestore: %s is not an MSAL token cache (left as it is; repair or remove it): %w", s.path, err)
}

// read returns the file's content; nil when it does not exist.
func (s *Store) read() ([]byte, error) {
	data, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("filestore: %w", err)
	}
	return data, nil
}

// replace writes data to the file atomically: a temporary file in the
// same directory, synced, then renamed over the file, then the directory
// synced so the rename itself survives a crash.
func (s *Store) replace(data []byte) (err error) {
	dir := filepath.Dir(s.path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(s.path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("filestore: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	// CreateTemp makes the file 0600; Chmod says so whatever the umask.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("filestore: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("filestore: writing %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("filestore: syncing %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("filestore: %w", err)
	}
	if err := os.Rename(tmp, s.path); err != nil {
		return fmt.Errorf("filestore: %w", err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("filestore: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		return fmt.Errorf("filestore: syncing directory %s: %w", dir, err)
	}
	return nil
}

// Waits between two tries of a lock another process holds: short at
// first (a write holds it for a few milliseconds), growing to a cap.
const (
	firstLockWait = time.Millisecond
	maxLockWait   = 25 * time.Millisecond
)

// acquire takes the lock, first this Store's (other goroutines), then the
// file's (other processes), within the lock timeout and ctx.
func (s *Store) acquire(ctx context.Context) (unlock func(), err error) {
	if err := ctx.Err(); err != nil {
		// A select below would pick a free lock as often as a done context.
		return nil, err
	}
	if s.lockTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, s.lockTimeout, errLockTimedOut)
		defer cancel()
	}
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, s.lockError(ctx)
	}
	for wait := firstLockWait; ; wait = min(2*wait, maxLockWait) {
		ok, err := s.lock.TryLock()
		if err != nil {
			<-s.sem
			return nil, fmt.Errorf("filestore: locking %s: %w", s.lockPath, err)
		}
		if ok {
			return func() {
				_ = s.lock.Unlock()
				<-s.sem
			}, nil
		}
		if err := s.wait(ctx, wait); err != nil {
			<-s.sem
			return nil, s.lockError(ctx)
		}
	}
}

// errLockTimedOut is the cause of the end of an acquire's context at the
// lock timeout.
var errLockTimedOut = errors.New("lock timeout")

func (s *Store) lockError(ctx context.Context) error {
	if context.Cause(ctx) == errLockTimedOut {
		return fmt.Errorf("%w: %s still held by another process after %v", ErrLockTimeout, s.lockPath, s.lockTimeout)
	}
	return fmt.Errorf("filestore: waiting for the lock %s: %w", s.lockPath, ctx.Err())
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
