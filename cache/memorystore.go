package cache

import (
	"bytes"
	"context"
	"sort"
	"sync"
)

// MemoryStore is a [Store] (and [PartitionLister]) that keeps partitions in
// memory, for tests and examples. Update is optimistic, like a Redis
// transaction: fn runs without a lock, and runs again when another writer
// changed the partition meanwhile.
//
// The zero value is ready to use.
type MemoryStore struct {
	mu    sync.Mutex
	parts map[string]memoryPart
}

type memoryPart struct {
	data    []byte
	version uint64
}

// NewMemoryStore returns an empty [MemoryStore].
func NewMemoryStore() *MemoryStore { return &MemoryStore{} }

// Load returns a copy of the partition's document, or nil, nil.
func (s *MemoryStore) Load(ctx context.Context, partition string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.parts[partition]
	if !ok {
		return nil, nil
	}
	return bytes.Clone(p.data), nil
}

// Update runs fn on the partition's document and stores the result unless
// another Update stored a new version meanwhile, in which case it runs fn
// again on that version.
func (s *MemoryStore) Update(ctx context.Context, partition string, fn func(old []byte) ([]byte, error)) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		s.mu.Lock()
		p, ok := s.parts[partition]
		s.mu.Unlock()
		var old []byte
		if ok {
			old = bytes.Clone(p.data)
		}
		data, err := fn(old)
		if err != nil {
			return err
		}
		s.mu.Lock()
		cur := s.parts[partition]
		if cur.version == p.version {
			if s.parts == nil {
				s.parts = make(map[string]memoryPart)
			}
			s.parts[partition] = memoryPart{data: bytes.Clone(data), version: p.version + 1}
			s.mu.Unlock()
			return nil
		}
		s.mu.Unlock()
	}
}

// Partitions returns the names of the stored partitions, sorted.
func (s *MemoryStore) Partitions(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.parts))
	for k := range s.parts {
		names = append(names, k)
	}
	sort.Strings(names)
	return names, nil
}
