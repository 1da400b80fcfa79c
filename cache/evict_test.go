package cache

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"testing"
	"time"
)

func TestEviction_order(t *testing.T) {
	// One shard: eviction is exactly least recently used first. Each step
	// stores (s) or looks up (l) the app token of a tenant; evicted lists
	// the tenants gone after the step.
	type step struct {
		op, tenant string
		evicted    string
	}
	tests := []struct {
		name  string
		max   int
		steps []step
	}{
		{"oldest goes first", 2, []step{{"s", "a", ""}, {"s", "b", ""}, {"s", "c", "a"}, {"s", "d", "ab"}}},
		{"a lookup makes a tenant recent", 3, []step{
			{"s", "a", ""}, {"s", "b", ""}, {"s", "c", ""},
			{"l", "a", ""},
			{"s", "d", "b"},
			{"s", "e", "bc"},
			{"l", "d", "bc"},
			{"s", "f", "abc"},
		}},
		{"rewriting a tenant makes it recent", 2, []step{{"s", "a", ""}, {"s", "b", ""}, {"s", "a", ""}, {"s", "c", "b"}}},
		{"a miss does not make a tenant recent", 2, []step{{"s", "a", ""}, {"s", "b", ""}, {"l", "x", ""}, {"s", "c", "a"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			c := New(WithMaxEntries(tt.max), withShards(1))
			all := map[string]bool{}
			for i, st := range tt.steps {
				switch st.op {
				case "s":
					all[st.tenant] = true
					mustStore(t, c, appResponse("app", st.tenant, "tok-"+st.tenant, "s"), t0)
				case "l":
					c.AccessToken(ctx, AccessTokenQuery{Environment: "login.microsoftonline.com", Realm: st.tenant, ClientID: "app", Scopes: []string{"s"}}, t0)
				}
				got := ""
				for _, tenant := range "abcdefgh" {
					if all[string(tenant)] && !c.has("app", string(tenant)) {
						got += string(tenant)
					}
				}
				if got != st.evicted {
					t.Fatalf("step %d (%s %s): evicted %q, want %q", i, st.op, st.tenant, got, st.evicted)
				}
				if n := c.Stats().Entries; n > tt.max {
					t.Fatalf("step %d: %d entries over the cap %d", i, n, tt.max)
				}
			}
		})
	}
}

// has reports whether the app partition of (client, tenant) is in memory,
// without changing its recency.
func (c *Cache) has(client, tenant string) bool {
	pid := partID{kind: kindApp, a: client, b: tenant}
	ph := c.hashPart(pid)
	s := &c.shards[c.shardIndex(ph)]
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.part(pid, ph)
	return p != nil && p.n > 0
}

func TestEviction_wholePartitions(t *testing.T) {
	c := New(WithMaxEntries(5), withShards(1))
	user := func(home string) Response {
		return Response{Environment: "login.microsoftonline.com", Realm: "t", ClientID: "c", HomeAccountID: home,
			Scopes: []string{"s"}, AccessToken: "at", ExpiresOn: t0.Add(time.Hour), RefreshToken: "rt", IDToken: "idt",
			Account: &Account{Username: home + "@example.com"}}
	}
	mustStore(t, c, user("u1"), t0) // 4 entries
	mustStore(t, c, user("u2"), t0) // 8: u1 goes whole
	if st := c.Stats(); st.Entries != 4 || st.Partitions != 1 {
		t.Fatalf("Stats = %+v, want u2's 4 entries", st)
	}
	if got := c.Accounts(context.Background(), AccountFilter{}); len(got) != 1 || got[0].Username != "u2@example.com" {
		t.Errorf("Accounts = %v, want u2's only (the index follows evictions)", got)
	}
	if _, ok := c.RefreshToken(context.Background(), RefreshTokenQuery{Environment: "login.microsoftonline.com", ClientID: "c", HomeAccountID: "u1"}); ok {
		t.Error("u1's refresh token outlived its partition")
	}
}

func TestEviction_spreadOverShards(t *testing.T) {
	c := New(WithMaxEntries(1000))
	for i := range 5000 {
		mustStore(t, c, appResponse("c", strconv.Itoa(i), "tok", "s"), t0)
		if n := c.Stats().Entries; n > 1000 {
			t.Fatalf("after %d writes: %d entries", i+1, n)
		}
	}
	if st := c.Stats(); st.Entries != 1000 || st.Partitions != 1000 {
		t.Errorf("Stats = %+v, want exactly at the cap", st)
	}
	// The most recent writes are still there.
	for i := 4990; i < 5000; i++ {
		if !c.has("c", strconv.Itoa(i)) {
			t.Errorf("tenant %d, written last, was evicted", i)
		}
	}
}

func TestEviction_byteBudget(t *testing.T) {
	probe := New()
	mustStore(t, probe, appResponse("c", "t0", "tok", "s"), t0)
	one := probe.Stats().Bytes
	if one <= 0 {
		t.Fatalf("Bytes = %d", one)
	}
	c := New(WithMaxEntries(0), WithMaxBytes(3*one+one/2), withShards(1))
	for i := range 10 {
		mustStore(t, c, appResponse("c", fmt.Sprint("t", i), "tok", "s"), t0)
	}
	if st := c.Stats(); st.Partitions != 3 || st.Bytes > 3*one+one/2 {
		t.Errorf("Stats = %+v, want 3 tokens of %d bytes", st, one)
	}
	// A bigger token costs more of the budget.
	mustStore(t, c, appResponse("c", "big", string(make([]byte, 2*one)), "s"), t0)
	if st := c.Stats(); st.Partitions != 1 {
		t.Errorf("Stats = %+v, want the big token alone", st)
	}
}

func TestEviction_partitionAloneOverCapGoes(t *testing.T) {
	c := New(WithMaxEntries(2))
	mustStore(t, c, Response{Environment: "e", ClientID: "c", HomeAccountID: "h", Scopes: []string{"s"}, AccessToken: "at",
		ExpiresOn: t0.Add(time.Hour), RefreshToken: "rt", IDToken: "idt"}, t0)
	if st := c.Stats(); st.Entries != 0 || st.Partitions != 0 || st.Bytes != 0 {
		t.Errorf("Stats = %+v: memory must stay bounded even by one identity", st)
	}
}

func TestEviction_unlimited(t *testing.T) {
	c := New(WithMaxEntries(0))
	for i := range DefaultMaxEntries / 50 {
		mustStore(t, c, appResponse("c", strconv.Itoa(i), "tok", "s"), t0)
	}
	if n := c.Stats().Entries; n != DefaultMaxEntries/50 {
		t.Errorf("Entries = %d", n)
	}
}

// floodSize is how many distinct on-behalf-of partitions the flood test
// writes: ten times the cap. It takes about 3 s, 16 s under -race.
const floodSize = 1_000_000

func TestFlood_onBehalfOfPartitionsStayAtTheCap(t *testing.T) {
	const max = 100_000
	c := New(WithMaxEntries(max))
	r := Response{
		Environment: "login.microsoftonline.com", Realm: "tenant", ClientID: "api",
		Scopes: []string{"https://graph.microsoft.com/.default"}, AccessToken: "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.payload.signature",
		ExpiresOn: t0.Add(time.Hour),
	}
	var buf []byte
	start := time.Now()
	for i := range floodSize {
		buf = strconv.AppendInt(append(buf[:0], "user-assertion-"...), int64(i), 10)
		r.UserAssertionHash = AssertionHash(string(buf))
		r.HomeAccountID = r.UserAssertionHash[:8] + ".tenant"
		if err := c.StoreResponse(context.Background(), r, t0); err != nil {
			t.Fatal(err)
		}
		if i%100_000 == 0 {
			if st := c.Stats(); st.Entries > max || st.Partitions > max {
				t.Fatalf("after %d writes: %+v over the cap", i+1, st)
			}
		}
	}
	elapsed := time.Since(start)
	st := c.Stats()
	if st.Entries != max || st.Partitions != max {
		t.Errorf("Stats = %+v, want exactly %d entries in %d partitions", st, max, max)
	}
	// The latest assertion's token is there; the first one's is gone.
	last := AssertionHash("user-assertion-" + strconv.Itoa(floodSize-1))
	q := AccessTokenQuery{Environment: "login.windows.net", Realm: "tenant", ClientID: "api", UserAssertionHash: last, Scopes: r.Scopes}
	if _, ok := c.AccessToken(context.Background(), q, t0); !ok {
		t.Error("the last on-behalf-of token was evicted")
	}
	q.UserAssertionHash = AssertionHash("user-assertion-0")
	if _, ok := c.AccessToken(context.Background(), q, t0); ok {
		t.Error("the first on-behalf-of token survived a flood ten times the cap")
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("flood of %d partitions in %v; after GC: live heap %.1f MiB (%d B per cached token), heap in use %.1f MiB, estimated (Stats.Bytes) %.1f MiB",
		floodSize, elapsed.Round(time.Millisecond), float64(ms.HeapAlloc)/(1<<20), ms.HeapAlloc/max,
		float64(ms.HeapInuse)/(1<<20), float64(st.Bytes)/(1<<20))
	runtime.KeepAlive(c)
}
