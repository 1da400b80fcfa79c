package cache

import "time"

// ---- the expiry heap (callers hold s.mu)

func (s *shard) heapPush(e *atEntry) {
	e.heapIdx = int32(len(s.heap))
	s.heap = append(s.heap, e)
	s.heapUp(int(e.heapIdx))
}

func (s *shard) heapRemove(e *atEntry) {
	i := int(e.heapIdx)
	if i < 0 {
		return
	}
	last := len(s.heap) - 1
	if i != last {
		s.heapSwap(i, last)
	}
	s.heap[last] = nil
	s.heap = s.heap[:last]
	if i != last {
		if !s.heapDown(i) {
			s.heapUp(i)
		}
	}
	e.heapIdx = -1
}

func (s *shard) heapSwap(i, j int) {
	s.heap[i], s.heap[j] = s.heap[j], s.heap[i]
	s.heap[i].heapIdx = int32(i)
	s.heap[j].heapIdx = int32(j)
}

func (s *shard) heapUp(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if s.heap[parent].expiresOn <= s.heap[i].expiresOn {
			return
		}
		s.heapSwap(i, parent)
		i = parent
	}
}

func (s *shard) heapDown(i int) bool {
	start := i
	n := len(s.heap)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && s.heap[r].expiresOn < s.heap[l].expiresOn {
			m = r
		}
		if s.heap[i].expiresOn <= s.heap[m].expiresOn {
			break
		}
		s.heapSwap(i, m)
		i = m
	}
	return i > start
}

// sweepShard drops up to limit (all when limit < 0) access tokens that
// expired at or before nowSec, reporting how many it dropped.
func (c *Cache) sweepShard(s *shard, nowSec int64, limit int) int {
	n := 0
	for len(s.heap) > 0 && s.heap[0].expiresOn <= nowSec && (limit < 0 || n < limit) {
		c.removeAT(s, s.heap[0])
		n++
	}
	return n
}

// Sweep drops every access token that has expired at now (refresh tokens
// have no expiry and stay). Its cost follows the number of tokens dropped
// (a heap per shard ordered by expires_on), not the number cached. Expired
// tokens are also dropped when a lookup meets them and, a few at a time,
// when a response is stored; call Sweep periodically to bound the memory
// held by tokens nobody asks for again.
func (c *Cache) Sweep(now time.Time) int {
	nowSec := now.Unix()
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += c.sweepShard(s, nowSec, -1)
		s.mu.Unlock()
	}
	return n
}

// ---- eviction

func (c *Cache) over() bool {
	if c.maxEntries > 0 && (c.entries.Load() > c.maxEntries || c.nparts.Load() > c.maxEntries) {
		return true
	}
	return c.maxBytes > 0 && c.bytes.Load() > c.maxBytes
}

// enforce evicts least recently used partitions until the cache is within
// its caps. It starts with the shard just written to (idx) and moves on
// only when that shard has nothing but keep, the partition just written,
// which goes last.
func (c *Cache) enforce(idx int, keep *partition) {
	if !c.over() {
		return
	}
	n := len(c.shards)
	empty := 0
	for c.over() && empty < 2*n {
		s := &c.shards[idx]
		s.mu.Lock()
		p := s.tail
		if p == keep && empty < n {
			p = nil
		}
		if p != nil {
			c.removePartition(s, p)
			s.mu.Unlock()
			empty = 0
			continue
		}
		s.mu.Unlock()
		empty++
		idx = (idx + 1) & int(c.mask)
	}
}
