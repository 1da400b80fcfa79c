package cache

// table is an open-addressing hash table from a 64-bit hash to a bucket
// chain, with linear probing and backward-shift deletion. It replaces a
// Go map on the lookup path because a probe usually reads one cache line
// (a map reads a directory, a table header and a group).
type table struct {
	slots []tslot
	n     int
}

type tslot struct {
	hash uint64
	b    *bucket // nil: empty
}

// slot mixes h so that the low bits index well even for weak hashes.
func (t *table) home(h uint64) int {
	return int((h * 0x9E3779B97F4A7C15) >> 32 & uint64(len(t.slots)-1))
}

// get returns the chain stored for h, or nil.
func (t *table) get(h uint64) *bucket {
	if len(t.slots) == 0 {
		return nil
	}
	mask := len(t.slots) - 1
	for i := t.home(h); ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.b == nil {
			return nil
		}
		if s.hash == h {
			return s.b
		}
	}
}

// set stores b as the chain of h (b must not be nil).
func (t *table) set(h uint64, b *bucket) {
	if 2*(t.n+1) > len(t.slots) {
		t.grow()
	}
	mask := len(t.slots) - 1
	for i := t.home(h); ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.b == nil {
			*s = tslot{h, b}
			t.n++
			return
		}
		if s.hash == h {
			s.b = b
			return
		}
	}
}

// del removes h, shifting later entries of its probe run back so that no
// lookup stops early.
func (t *table) del(h uint64) {
	if len(t.slots) == 0 {
		return
	}
	mask := len(t.slots) - 1
	i := t.home(h)
	for {
		s := &t.slots[i]
		if s.b == nil {
			return
		}
		if s.hash == h {
			break
		}
		i = (i + 1) & mask
	}
	for j := (i + 1) & mask; ; j = (j + 1) & mask {
		s := &t.slots[j]
		if s.b == nil {
			break
		}
		// s may fill the hole at i when its home is not in (i, j].
		k := t.home(s.hash)
		if (j > i && (k <= i || k > j)) || (j < i && k <= i && k > j) {
			t.slots[i] = *s
			i = j
		}
	}
	t.slots[i] = tslot{}
	t.n--
	if len(t.slots) > 64 && 8*t.n < len(t.slots) {
		t.resize(len(t.slots) / 2)
	}
}

func (t *table) grow() {
	if len(t.slots) == 0 {
		t.slots = make([]tslot, 8)
		return
	}
	t.resize(2 * len(t.slots))
}

func (t *table) resize(n int) {
	old := t.slots
	t.slots = make([]tslot, n)
	t.n = 0
	for _, s := range old {
		if s.b != nil {
			t.set(s.hash, s.b)
		}
	}
}
