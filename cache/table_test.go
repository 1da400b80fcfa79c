package cache

import (
	"math/rand/v2"
	"testing"
)

func TestTable_agreesWithAMap(t *testing.T) {
	// Random inserts and deletes, with many hashes sharing home slots (few
	// distinct low bits), checked against a map after every step.
	r := rand.New(rand.NewPCG(1, 2))
	var tab table
	ref := map[uint64]*bucket{}
	buckets := make([]*bucket, 64)
	for i := range buckets {
		buckets[i] = &bucket{}
	}
	for step := range 200_000 {
		h := r.Uint64N(3000) << 40 // same low bits: collisions in home slots
		if step%3 == 0 {
			h = r.Uint64N(3000)
		}
		if r.IntN(2) == 0 {
			b := buckets[r.IntN(len(buckets))]
			tab.set(h, b)
			ref[h] = b
		} else {
			tab.del(h)
			delete(ref, h)
		}
		if tab.n != len(ref) {
			t.Fatalf("step %d: table holds %d, map %d", step, tab.n, len(ref))
		}
		if step%1000 == 0 {
			for k, v := range ref {
				if got := tab.get(k); got != v {
					t.Fatalf("step %d: get(%x) = %p, want %p", step, k, got, v)
				}
			}
		}
		if got, want := tab.get(h), ref[h]; got != want {
			t.Fatalf("step %d: get(%x) = %p, want %p", step, h, got, want)
		}
	}
	for k := range ref {
		tab.del(k)
	}
	if tab.n != 0 || len(tab.slots) > 64 {
		t.Errorf("emptied table: n=%d, %d slots (want it shrunk)", tab.n, len(tab.slots))
	}
}
