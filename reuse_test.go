package bearer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bearerhttp/bearer/challenge"
)

// The tests of ReuseTokenSource run in synctest bubbles: time is fake and
// advances only when every goroutine of the bubble is blocked, so a test
// moves the clock with time.Sleep and asserts exact instants. No network
// I/O happens inside a bubble.

// call is one call to a scriptedSource, waiting for the test's reply.
type call struct {
	ctx   context.Context
	req   TokenRequest
	reply chan result
}

type result struct {
	tok Token
	err error
}

// scriptedSource hands every call to the test, which answers it.
type scriptedSource struct{ calls chan call }

func newScripted() *scriptedSource { return &scriptedSource{calls: make(chan call, 100)} }

func (s *scriptedSource) Token(ctx context.Context, req TokenRequest) (Token, error) {
	c := call{ctx: ctx, req: req, reply: make(chan result, 1)}
	s.calls <- c
	select {
	case r := <-c.reply:
		return r.tok, r.err
	case <-ctx.Done():
		return Token{}, ctx.Err()
	}
}

// next returns the call the source received, once the bubble is idle.
func (s *scriptedSource) next(t *testing.T) call {
	t.Helper()
	synctest.Wait()
	select {
	case c := <-s.calls:
		return c
	default:
		t.Fatal("the source was not called")
		return call{}
	}
}

// none checks that the source received no call.
func (s *scriptedSource) none(t *testing.T) {
	t.Helper()
	synctest.Wait()
	if n := len(s.calls); n != 0 {
		t.Fatalf("the source was called %d times", n)
	}
}

func (c call) answer(tok Token, err error) { c.reply <- result{tok, err} }

// async calls src.Token in a goroutine.
func async(src TokenSource, ctx context.Context, req TokenRequest) <-chan result {
	ch := make(chan result, 1)
	go func() {
		tok, err := src.Token(ctx, req)
		ch <- result{tok, err}
	}()
	return ch
}

// must returns the result of an async call that must have finished.
func must(t *testing.T, ch <-chan result) result {
	t.Helper()
	synctest.Wait()
	select {
	case r := <-ch:
		return r
	default:
		t.Fatal("Token has not returned")
		return result{}
	}
}

// pending checks that an async call has not returned.
func pending(t *testing.T, ch <-chan result) {
	t.Helper()
	synctest.Wait()
	select {
	case r := <-ch:
		t.Fatalf("Token returned %v, %v; want it still waiting", r.tok, r.err)
	default:
	}
}

// tokenOf reads a token synchronously; it must come from the cache.
func tokenOf(t *testing.T, src TokenSource, req TokenRequest) Token {
	t.Helper()
	tok, err := src.Token(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// countingSource answers at once with token-N valid for life.
type countingSource struct {
	mu    sync.Mutex
	n     int
	life  time.Duration // zero: ExpiresOn zero
	reqs  []TokenRequest
	extra func(*Token)
}

func (s *countingSource) Token(ctx context.Context, req TokenRequest) (Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	s.reqs = append(s.reqs, req)
	tok := Token{AccessToken: fmt.Sprintf("token-%d", s.n)}
	if s.life != 0 {
		tok.ExpiresOn = time.Now().Add(s.life)
	}
	if s.extra != nil {
		s.extra(&tok)
	}
	return tok, nil
}

func (s *countingSource) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

var plainReq = TokenRequest{Scopes: []string{"https://graph.microsoft.com/.default"}}

func TestReuseServesCachedToken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &countingSource{life: time.Hour}
		r := ReuseTokenSource(src)
		for range 5 {
			if tok := tokenOf(t, r, plainReq); tok.AccessToken != "token-1" {
				t.Fatalf("got %s", tok.AccessToken)
			}
		}
		if n := src.count(); n != 1 {
			t.Errorf("source called %d times", n)
		}
	})
}

func TestReuseMargin(t *testing.T) {
	tests := []struct {
		life, margin time.Duration
	}{
		{time.Hour, 5 * time.Minute},
		{100 * time.Minute, 5 * time.Minute},
		{50 * time.Minute, 5 * time.Minute}, // lifetime/10 = 5 min exactly
		{40 * time.Minute, 4 * time.Minute},
		{10 * time.Minute, time.Minute},
		{30 * time.Second, 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("lifetime %v serves until %v before expiry", tt.life, tt.margin), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				src := &countingSource{life: tt.life}
				r := ReuseTokenSource(src)
				tokenOf(t, r, plainReq)
				time.Sleep(tt.life - tt.margin - time.Nanosecond)
				if tok := tokenOf(t, r, plainReq); tok.AccessToken != "token-1" {
					t.Fatalf("just before the margin: %s, want the cached token", tok.AccessToken)
				}
				time.Sleep(time.Nanosecond)
				if tok := tokenOf(t, r, plainReq); tok.AccessToken != "token-2" {
					t.Fatalf("at the margin: %s, want a new token", tok.AccessToken)
				}
			})
		})
	}
}

func TestReuseZeroExpiryNeverExpires(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &countingSource{}
		r := ReuseTokenSource(src)
		tokenOf(t, r, plainReq)
		time.Sleep(10000 * time.Hour)
		if tok := tokenOf(t, r, plainReq); tok.AccessToken != "token-1" || src.count() != 1 {
			t.Errorf("got %s after %d calls", tok.AccessToken, src.count())
		}
	})
}

func TestReuseExpiredTokenIsNotCached(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &countingSource{extra: func(tok *Token) { tok.ExpiresOn = time.Now().Add(-time.Second) }}
		r := ReuseTokenSource(src)
		for i := 1; i <= 2; i++ {
			if tok := tokenOf(t, r, plainReq); tok.AccessToken != fmt.Sprintf("token-%d", i) {
				t.Errorf("call %d got %s", i, tok.AccessToken)
			}
		}
	})
}

type ctxKey struct{}

func TestReuseBackgroundRefresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newScripted()
		r := ReuseTokenSource(src)
		t0 := time.Now()
		first := async(r, context.Background(), plainReq)
		src.next(t).answer(Token{AccessToken: "A", ExpiresOn: t0.Add(time.Hour), RefreshOn: t0.Add(30 * time.Minute)}, nil)
		must(t, first)

		time.Sleep(30*time.Minute - time.Nanosecond)
		if tok := tokenOf(t, r, plainReq); tok.AccessToken != "A" {
			t.Fatalf("before RefreshOn: %s", tok.AccessToken)
		}
		src.none(t)

		time.Sleep(time.Nanosecond)
		ctx, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "assertion"))
		if tok, err := r.Token(ctx, plainReq); err != nil || tok.AccessToken != "A" {
			t.Fatalf("at RefreshOn: %v, %v; want the current token at once", tok.AccessToken, err)
		}
		cancel() // the request that triggered the refresh is over
		bg := src.next(t)
		if bg.req.Claims != "" || bg.req.ForceRefresh || bg.req.Challenge != nil || !slices.Equal(bg.req.Scopes, plainReq.Scopes) {
			t.Errorf("background request %+v", bg.req)
		}
		if bg.ctx.Err() != nil {
			t.Errorf("background refresh cancelled with the request: %v", bg.ctx.Err())
		}
		if v := bg.ctx.Value(ctxKey{}); v != "assertion" {
			t.Errorf("background refresh lost the request's values: %v", v)
		}
		if d, ok := bg.ctx.Deadline(); !ok || time.Until(d) != 30*time.Second {
			t.Errorf("background deadline %v (%v), want 30s from now", d, ok)
		}

		// While it runs, the current token is served and no other refresh starts.
		for range 3 {
			if tok := tokenOf(t, r, plainReq); tok.AccessToken != "A" {
				t.Fatalf("during the refresh: %s", tok.AccessToken)
			}
		}
		src.none(t)

		bg.answer(Token{AccessToken: "B", ExpiresOn: time.Now().Add(time.Hour)}, nil)
		synctest.Wait()
		if tok := tokenOf(t, r, plainReq); tok.AccessToken != "B" {
			t.Errorf("after the refresh: %s", tok.AccessToken)
		}
		src.none(t)
	})
}

// TestReuseRefreshNotRepeatedFromAReplacedState: a request reads the
// token's state, due for a refresh; before it starts one, another
// request's refresh runs and finishes. The state it read is no longer
// current, and it must not start a second refresh.
func TestReuseRefreshNotRepeatedFromAReplacedState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newScripted()
		r := ReuseTokenSource(src).(*reuseSource)
		t0 := time.Now()
		first := async(r, context.Background(), plainReq)
		src.next(t).answer(Token{AccessToken: "A", ExpiresOn: t0.Add(time.Hour), RefreshOn: t0.Add(30 * time.Minute)}, nil)
		must(t, first)
		time.Sleep(30 * time.Minute)

		e := r.lookup(plainReq.Scopes, "")
		due := e.state.Load() // the slow request reads A's state
		tokenOf(t, r, plainReq)
		now := time.Now()
		src.next(t).answer(Token{AccessToken: "B", ExpiresOn: now.Add(time.Hour), RefreshOn: now.Add(30 * time.Minute)}, nil)
		synctest.Wait()
		r.refreshInBackground(context.Background(), e, due) // the slow request goes on
		src.none(t)
		if tok := tokenOf(t, r, plainReq); tok.AccessToken != "B" {
			t.Errorf("after the refresh: %s", tok.AccessToken)
		}
	})
}

func TestReuseBackgroundRefreshTimesOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newScripted()
		r := ReuseTokenSource(src)
		t0 := time.Now()
		first := async(r, context.Background(), plainReq)
		src.next(t).answer(Token{AccessToken: "A", ExpiresOn: t0.Add(time.Hour), RefreshOn: t0.Add(time.Minute)}, nil)
		must(t, first)
		time.Sleep(time.Minute)
		tokenOf(t, r, plainReq)
		bg := src.next(t)
		time.Sleep(30 * time.Second) // the source never answers
		synctest.Wait()
		if !errors.Is(bg.ctx.Err(), context.DeadlineExceeded) {
			t.Errorf("background context after 30s: %v", bg.ctx.Err())
		}
		if tok := tokenOf(t, r, plainReq); tok.AccessToken != "A" {
			t.Errorf("after a timed-out refresh: %s", tok.AccessToken)
		}
	})
}

func TestReuseHalfLife(t *testing.T) {
	t.Run("2h lifetime refreshes after 1h", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			src := newScripted()
			r := ReuseTokenSource(src)
			first := async(r, context.Background(), plainReq)
			src.next(t).answer(Token{AccessToken: "A", ExpiresOn: time.Now().Add(2 * time.Hour)}, nil)
			must(t, first)
			time.Sleep(time.Hour - time.Nanosecond)
			tokenOf(t, r, plainReq)
			src.none(t)
			time.Sleep(time.Nanosecond)
			tokenOf(t, r, plainReq)
			src.next(t).answer(Token{AccessToken: "B", ExpiresOn: time.Now().Add(2 * time.Hour)}, nil)
			synctest.Wait()
			if tok := tokenOf(t, r, plainReq); tok.AccessToken != "B" {
				t.Errorf("got %s", tok.AccessToken)
			}
		})
	})
	t.Run("shorter lifetime has no background refresh", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			src := newScripted()
			r := ReuseTokenSource(src)
			first := async(r, context.Background(), plainReq)
			src.next(t).answer(Token{AccessToken: "A", ExpiresOn: time.Now().Add(2*time.Hour - time.Second)}, nil)
			must(t, first)
			time.Sleep(2*time.Hour - time.Second - 5*time.Minute - time.Nanosecond)
			tokenOf(t, r, plainReq)
			src.none(t)
		})
	})
}

func TestReuseBackgroundFailureBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newScripted()
		r := ReuseTokenSource(src).(*reuseSource)
		var asked []time.Duration
		r.backoff = func(failures int) time.Duration {
			d := defaultBackoff(failures)
			asked = append(asked, d)
			return d
		}
		t0 := time.Now()
		first := async(r, context.Background(), plainReq)
		src.next(t).answer(Token{AccessToken: "A", ExpiresOn: t0.Add(time.Hour), RefreshOn: t0.Add(10 * time.Minute)}, nil)
		must(t, first)

		time.Sleep(10 * time.Minute)
		tokenOf(t, r, plainReq)
		src.next(t).answer(Token{}, errors.New("authority down"))
		synctest.Wait()

		// The valid token keeps serving; no retry before the backoff ends.
		time.Sleep(30*time.Second - time.Nanosecond)
		if tok := tokenOf(t, r, plainReq); tok.AccessToken != "A" {
			t.Fatalf("after a failed refresh: %s", tok.AccessToken)
		}
		src.none(t)
		time.Sleep(time.Nanosecond)
		tokenOf(t, r, plainReq)
		src.next(t).answer(Token{}, errors.New("authority still down"))
		synctest.Wait()

		time.Sleep(time.Minute - time.Nanosecond)
		tokenOf(t, r, plainReq)
		src.none(t)
		time.Sleep(time.Nanosecond)
		tokenOf(t, r, plainReq)
		src.next(t).answer(Token{AccessToken: "B", ExpiresOn: time.Now().Add(time.Hour), RefreshOn: time.Now().Add(10 * time.Minute)}, nil)
		synctest.Wait()
		if tok := tokenOf(t, r, plainReq); tok.AccessToken != "B" {
			t.Errorf("after a successful refresh: %s", tok.AccessToken)
		}
		if want := []time.Duration{30 * time.Second, time.Minute}; !slices.Equal(asked, want) {
			t.Errorf("backoffs asked %v, want %v", asked, want)
		}
		// The failure count starts again after a success.
		time.Sleep(10 * time.Minute)
		tokenOf(t, r, plainReq)
		src.next(t).answer(Token{}, errors.New("down again"))
		synctest.Wait()
		if asked[len(asked)-1] != 30*time.Second {
			t.Errorf("first backoff after a success %v, want 30s", asked[len(asked)-1])
		}
	})
}

func TestDefaultBackoff(t *testing.T) {
	want := map[int]time.Duration{1: 30 * time.Second, 2: time.Minute, 3: 2 * time.Minute, 4: 4 * time.Minute, 5: 5 * time.Minute, 6: 5 * time.Minute, 1000: 5 * time.Minute}
	for n, d := range want {
		if got := defaultBackoff(n); got != d {
			t.Errorf("defaultBackoff(%d) = %v, want %v", n, got, d)
		}
	}
}

func TestReuseCoalescesConcurrentRequests(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newScripted()
		r := ReuseTokenSource(src)
		var waits []<-chan result
		for range 10 {
			waits = append(waits, async(r, context.Background(), plainReq))
		}
		c := src.next(t)
		src.none(t)
		c.answer(Token{AccessToken: "A", ExpiresOn: time.Now().Add(time.Hour)}, nil)
		for _, w := range waits {
			if res := must(t, w); res.err != nil || res.tok.AccessToken != "A" {
				t.Errorf("got %v, %v", res.tok.AccessToken, res.err)
			}
		}
	})
}

func TestReuseSkipsAndReplaces(t *testing.T) {
	ch := challenge.Challenge{Scheme: "Bearer", Params: map[string]string{"error": "insufficient_user_authentication", "acr_values": "c1"}}
	tests := []struct {
		name string
		req  TokenRequest
	}{
		{"claims", TokenRequest{Scopes: plainReq.Scopes, Claims: `{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`}},
		{"ForceRefresh", TokenRequest{Scopes: plainReq.Scopes, ForceRefresh: true}},
		{"challenge", TokenRequest{Scopes: plainReq.Scopes, Challenge: &ch}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				src := newScripted()
				r := ReuseTokenSource(src)
				first := async(r, context.Background(), plainReq)
				src.next(t).answer(Token{AccessToken: "A", ExpiresOn: time.Now().Add(time.Hour)}, nil)
				must(t, first)

				got := async(r, context.Background(), tt.req)
				c := src.next(t)
				if c.req.Claims != tt.req.Claims || c.req.ForceRefresh != tt.req.ForceRefresh || c.req.Challenge != tt.req.Challenge {
					t.Errorf("source got %+v, want %+v", c.req, tt.req)
				}
				c.answer(Token{AccessToken: "B", ExpiresOn: time.Now().Add(time.Hour)}, nil)
				if res := must(t, got); res.tok.AccessToken != "B" {
					t.Errorf("got %s, want the new token", res.tok.AccessToken)
				}
				if tok := tokenOf(t, r, plainReq); tok.AccessToken != "B" {
					t.Errorf("a later plain request got %s, want the new token", tok.AccessToken)
				}
				src.none(t)
			})
		})
	}
	t.Run("identical claims requests share a call, others do not", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			src := newScripted()
			r := ReuseTokenSource(src)
			a := TokenRequest{Scopes: plainReq.Scopes, Claims: `{"a":1}`}
			b := TokenRequest{Scopes: plainReq.Scopes, Claims: `{"b":1}`}
			w1, w2 := async(r, context.Background(), a), async(r, context.Background(), a)
			w3 := async(r, context.Background(), b)
			w4 := async(r, context.Background(), plainReq)
			synctest.Wait()
			if n := len(src.calls); n != 3 {
				t.Fatalf("source called %d times, want 3", n)
			}
			for range 3 {
				c := <-src.calls
				c.answer(Token{AccessToken: "for " + c.req.Claims, ExpiresOn: time.Now().Add(time.Hour)}, nil)
			}
			if r1, r2 := must(t, w1), must(t, w2); r1.tok.AccessToken != `for {"a":1}` || r2.tok.AccessToken != r1.tok.AccessToken {
				t.Errorf("shared call gave %q and %q", r1.tok.AccessToken, r2.tok.AccessToken)
			}
			if r3 := must(t, w3); r3.tok.AccessToken != `for {"b":1}` {
				t.Errorf("got %q", r3.tok.AccessToken)
			}
			must(t, w4)
		})
	})
}

// TestReuseLateResultDoesNotOverwrite checks that a call that started
// earlier and finished later does not replace a newer token.
func TestReuseLateResultDoesNotOverwrite(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newScripted()
		r := ReuseTokenSource(src)
		first := async(r, context.Background(), plainReq)
		src.next(t).answer(Token{AccessToken: "A", ExpiresOn: time.Now().Add(time.Hour), RefreshOn: time.Now().Add(time.Minute)}, nil)
		must(t, first)
		time.Sleep(time.Minute)
		tokenOf(t, r, plainReq)
		bg := src.next(t) // background refresh, started first

		claims := async(r, context.Background(), TokenRequest{Scopes: plainReq.Scopes, Claims: `{"a":1}`})
		src.next(t).answer(Token{AccessToken: "C", ExpiresOn: time.Now().Add(time.Hour)}, nil)
		must(t, claims)
		bg.answer(Token{AccessToken: "B", ExpiresOn: time.Now().Add(time.Hour)}, nil)
		synctest.Wait()
		if tok := tokenOf(t, r, plainReq); tok.AccessToken != "C" {
			t.Errorf("got %s, want the claims token C", tok.AccessToken)
		}
	})
}

func TestReuseKeys(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &countingSource{life: time.Hour}
		r := ReuseTokenSource(src)
		req := func(tenant string, scopes ...string) TokenRequest {
			return TokenRequest{Scopes: scopes, TenantID: tenant}
		}
		steps := []struct {
			name string
			req  TokenRequest
			want string
		}{
			{"first", req("", "a", "b"), "token-1"},
			{"same scopes in another order", req("", "b", "a"), "token-1"},
			{"scopes differing in case", req("", "A", "b"), "token-2"},
			{"fewer scopes", req("", "a"), "token-3"},
			{"more scopes", req("", "a", "b", "c"), "token-4"},
			{"duplicate scope", req("", "a", "a"), "token-5"},
			{"another tenant", req("t1", "a", "b"), "token-6"},
			{"that tenant again", req("t1", "b", "a"), "token-6"},
			{"a third tenant", req("t2", "a", "b"), "token-7"},
			{"no tenant again", req("", "a", "b"), "token-1"},
		}
		for _, s := range steps {
			if tok := tokenOf(t, r, s.req); tok.AccessToken != s.want {
				t.Errorf("%s: got %s, want %s", s.name, tok.AccessToken, s.want)
			}
		}
		src.mu.Lock()
		defer src.mu.Unlock()
		if got := src.reqs[5].TenantID; got != "t1" {
			t.Errorf("source saw tenant %q, want t1", got)
		}
	})
}

func TestReuseManyKeys(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &countingSource{life: time.Hour}
		r := ReuseTokenSource(src)
		var reqs []TokenRequest
		for i := range 3 * linearMax {
			reqs = append(reqs, TokenRequest{Scopes: []string{fmt.Sprintf("https://api%d.example.com/.default", i), "offline_access"}})
		}
		for range 2 {
			for i, req := range reqs {
				if tok := tokenOf(t, r, req); tok.AccessToken != fmt.Sprintf("token-%d", i+1) {
					t.Fatalf("key %d got %s", i, tok.AccessToken)
				}
			}
		}
		// Reversed scopes hash alike and match.
		if tok := tokenOf(t, r, TokenRequest{Scopes: []string{"offline_access", "https://api7.example.com/.default"}}); tok.AccessToken != "token-8" {
			t.Errorf("got %s", tok.AccessToken)
		}
		if n := src.count(); n != len(reqs) {
			t.Errorf("source called %d times, want %d", n, len(reqs))
		}
	})
}

func TestReuseDropsExpiredEntries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &countingSource{life: time.Minute}
		r := ReuseTokenSource(src).(*reuseSource)
		tokenOf(t, r, TokenRequest{Scopes: []string{"a"}})
		time.Sleep(time.Hour)
		tokenOf(t, r, TokenRequest{Scopes: []string{"b"}})
		if n := len(r.index.Load().list); n != 1 {
			t.Errorf("%d entries, want 1: the expired one is dropped", n)
		}
	})
}

// TestReuseEntryDroppedBeforeTheCall: between a caller getting the entry
// of its key and starting its call, another caller's new key may drop
// that entry from the index (it holds no token and no call yet). The call
// must go to the entry the index holds, where the next caller finds its
// token (or joins it); on the dropped entry, concurrent callers of the key
// each called the source.
func TestReuseEntryDroppedBeforeTheCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &countingSource{life: time.Hour}
		r := ReuseTokenSource(src).(*reuseSource)
		a := TokenRequest{Scopes: []string{"a"}}
		r.gotEntry = func() {
			r.gotEntry = nil
			r.entry([]string{"b"}, "") // another caller's first request for b, at that moment
		}
		if tok := tokenOf(t, r, a); tok.AccessToken != "token-1" {
			t.Fatalf("first request: %s", tok.AccessToken)
		}
		if tok := tokenOf(t, r, a); tok.AccessToken != "token-1" || src.count() != 1 {
			t.Errorf("second request: %s after %d calls to the source, want the cached token-1 after 1", tok.AccessToken, src.count())
		}
	})
}

func TestReuseCancellation(t *testing.T) {
	t.Run("a cancelled caller returns at once; the call goes on for the others", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			src := newScripted()
			r := ReuseTokenSource(src)
			ctx, cancel := context.WithCancel(context.Background())
			a := async(r, ctx, plainReq)
			b := async(r, context.Background(), plainReq)
			c := src.next(t)
			pending(t, a)
			cancel()
			if res := must(t, a); !errors.Is(res.err, context.Canceled) {
				t.Errorf("cancelled caller got %v, %v", res.tok, res.err)
			}
			if c.ctx.Err() != nil {
				t.Errorf("the shared call was cancelled: %v", c.ctx.Err())
			}
			pending(t, b)
			c.answer(Token{AccessToken: "A", ExpiresOn: time.Now().Add(time.Hour)}, nil)
			if res := must(t, b); res.tok.AccessToken != "A" {
				t.Errorf("other caller got %v, %v", res.tok.AccessToken, res.err)
			}
		})
	})
	t.Run("the call is cancelled when nobody waits", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			src := newScripted()
			r := ReuseTokenSource(src)
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			a := async(r, ctx, plainReq)
			c := src.next(t)
			time.Sleep(time.Second)
			if res := must(t, a); !errors.Is(res.err, context.DeadlineExceeded) {
				t.Errorf("caller got %v", res.err)
			}
			if !errors.Is(c.ctx.Err(), context.Canceled) {
				t.Errorf("call context %v, want cancelled", c.ctx.Err())
			}
			// A new caller starts a new call rather than joining the cancelled one.
			b := async(r, context.Background(), plainReq)
			c2 := src.next(t)
			c2.answer(Token{AccessToken: "B", ExpiresOn: time.Now().Add(time.Hour)}, nil)
			if res := must(t, b); res.tok.AccessToken != "B" {
				t.Errorf("got %v, %v", res.tok.AccessToken, res.err)
			}
		})
	})
	t.Run("the call keeps the first caller's values", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			src := newScripted()
			r := ReuseTokenSource(src)
			a := async(r, context.WithValue(context.Background(), ctxKey{}, "first"), plainReq)
			c := src.next(t)
			if v := c.ctx.Value(ctxKey{}); v != "first" {
				t.Errorf("call context value %v", v)
			}
			c.answer(Token{AccessToken: "A"}, nil)
			must(t, a)
		})
	})
}

// TestReusePanicReachesACallerCancelledAsTheCallEnds: a caller's context
// ends while the call it waits for panics. run hands the panic to the
// waiters it counts; a caller it counted must receive it, not leave with
// its context's error after the call finished, which lost the panic.
func TestReusePanicReachesACallerCancelledAsTheCallEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		r := ReuseTokenSource(TokenSourceFunc(func(context.Context, TokenRequest) (Token, error) {
			<-release
			panic("source bug")
		})).(*reuseSource)
		r.leaving = func() {
			close(release)  // the call ends, panicking,
			synctest.Wait() // before the leaving caller locks the entry
		}
		ctx, cancel := context.WithCancel(context.Background())
		got := make(chan any, 1)
		go func() {
			defer func() { got <- recover() }()
			r.Token(ctx, plainReq)
		}()
		synctest.Wait()
		cancel()
		if v := <-got; v != "source bug" {
			t.Errorf("the caller recovered %v, want the source's panic", v)
		}
	})
}

func TestReuseSourceErrorIsReturned(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newScripted()
		r := ReuseTokenSource(src)
		boom := errors.New("invalid_client")
		a := async(r, context.Background(), plainReq)
		src.next(t).answer(Token{}, boom)
		if res := must(t, a); !errors.Is(res.err, boom) {
			t.Errorf("got %v", res.err)
		}
		// Errors are not cached.
		b := async(r, context.Background(), plainReq)
		src.next(t).answer(Token{AccessToken: "A"}, nil)
		if res := must(t, b); res.tok.AccessToken != "A" {
			t.Errorf("got %v, %v", res.tok.AccessToken, res.err)
		}
	})
}

func TestReusePanicReachesCaller(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := ReuseTokenSource(TokenSourceFunc(func(context.Context, TokenRequest) (Token, error) {
			panic("source bug")
		}))
		defer func() {
			if v := recover(); v != "source bug" {
				t.Errorf("recovered %v, want the source's panic", v)
			}
		}()
		r.Token(context.Background(), plainReq)
		t.Error("Token returned")
	})
}

func TestReuseTokenSourceWrapsOnce(t *testing.T) {
	r := ReuseTokenSource(&countingSource{})
	if ReuseTokenSource(r) != r {
		t.Error("wrapping a reuse source made another layer")
	}
	if _, err := ReuseTokenSource(nil).Token(context.Background(), plainReq); err == nil {
		t.Error("nil source: no error")
	}
}

// TestReuseCachedPathDoesNotAllocate checks the hot path, for a few keys
// (linear search) and many (hash index).
func TestReuseCachedPathDoesNotAllocate(t *testing.T) {
	for _, keys := range []int{1, 3 * linearMax} {
		src := &countingSource{life: time.Hour}
		r := ReuseTokenSource(src)
		ctx := context.Background()
		var last TokenRequest
		for i := range keys {
			last = TokenRequest{Scopes: []string{fmt.Sprintf("https://api%d.example.com/.default", i)}, TenantID: "t"}
			r.Token(ctx, last)
		}
		allocs := testing.AllocsPerRun(1000, func() {
			if _, err := r.Token(ctx, last); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%d keys: %v allocations per cached Token", keys, allocs)
		}
	}
}

// TestReuseNoticesWallClockJump: a machine that sleeps stops its monotonic
// clock while the wall clock runs on. The cache reads the wall clock at
// least once a second of running time, so it sees the jump by then.
func TestReuseNoticesWallClockJump(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &countingSource{life: time.Hour}
		r := ReuseTokenSource(src).(*reuseSource)
		var jump time.Duration
		r.clock.wallNow = func() time.Time { return time.Now().Add(jump) }
		tokenOf(t, r, plainReq)
		jump = 2 * time.Hour // slept two hours: the token expired meanwhile
		time.Sleep(wallCheckEvery / 2)
		if tok := tokenOf(t, r, plainReq); tok.AccessToken != "token-1" {
			t.Fatalf("within the check interval: %s", tok.AccessToken)
		}
		time.Sleep(wallCheckEvery / 2)
		if tok := tokenOf(t, r, plainReq); tok.AccessToken != "token-2" {
			t.Errorf("a second after the jump: %s, want a new token", tok.AccessToken)
		}
	})
}

func TestClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newClock()
		start := time.Now()
		if got := c.at(start); got != 0 {
			t.Errorf("at(creation) = %d", got)
		}
		if got := c.at(time.Time{}); got != never {
			t.Errorf("at(zero) = %d, want never", got)
		}
		for _, d := range []time.Duration{time.Millisecond, time.Second, time.Hour} {
			time.Sleep(d)
			if got, want := c.now(), int64(time.Since(start)); got != want {
				t.Errorf("now() = %d, want %d", got, want)
			}
		}
	})
}

// invalidTokenReq is how Transport asks for a token after a 401
// invalid_token.
var invalidTokenReq = TokenRequest{Scopes: plainReq.Scopes, ForceRefresh: true, Challenge: &challenge.Challenge{
	Scheme: "Bearer", Params: map[string]string{"error": "invalid_token", "error_description": "The token is expired"}}}

// TestReuseLimitsInvalidTokenRefreshes checks that the forced refreshes
// answering the transport's invalid_token recovery reach the source at
// most once per key every 30 seconds, while a caller's own ForceRefresh
// always does.
func TestReuseLimitsInvalidTokenRefreshes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newScripted()
		r := ReuseTokenSource(src)
		hour := func() time.Time { return time.Now().Add(time.Hour) }
		first := async(r, context.Background(), plainReq)
		src.next(t).answer(Token{AccessToken: "A", ExpiresOn: hour()}, nil)
		must(t, first)

		// The first recovery asks the source, with the challenge.
		got := async(r, context.Background(), invalidTokenReq)
		c := src.next(t)
		if !c.req.ForceRefresh || c.req.Challenge == nil || !c.req.Challenge.IsInvalidToken() {
			t.Errorf("source got %+v, want the recovery request", c.req)
		}
		// A second recovery while the first is in flight joins it.
		joined := async(r, context.Background(), invalidTokenReq)
		pending(t, joined)
		src.none(t)
		c.answer(Token{AccessToken: "B", ExpiresOn: hour()}, nil)
		if a, b := must(t, got), must(t, joined); a.tok.AccessToken != "B" || b.tok.AccessToken != "B" {
			t.Errorf("recoveries got %q and %q, want B", a.tok.AccessToken, b.tok.AccessToken)
		}

		// Within 30 s, recoveries are answered from the cache.
		time.Sleep(forcedRefreshInterval - time.Second)
		for range 30 {
			if tok := tokenOf(t, r, invalidTokenReq); tok.AccessToken != "B" {
				t.Fatalf("recovery got %s, want the cached B", tok.AccessToken)
			}
		}
		src.none(t)

		// A caller's own ForceRefresh always asks the source, and a
		// recovery joins it rather than being served the older token.
		own := async(r, context.Background(), TokenRequest{Scopes: plainReq.Scopes, ForceRefresh: true})
		c = src.next(t)
		if c.req.Challenge != nil {
			t.Errorf("source got %+v, want the caller's plain ForceRefresh", c.req)
		}
		joined = async(r, context.Background(), invalidTokenReq)
		pending(t, joined)
		src.none(t)
		c.answer(Token{AccessToken: "C", ExpiresOn: hour()}, nil)
		if a, b := must(t, own), must(t, joined); a.tok.AccessToken != "C" || b.tok.AccessToken != "C" {
			t.Errorf("got %q and %q, want C", a.tok.AccessToken, b.tok.AccessToken)
		}
		for range 3 {
			again := async(r, context.Background(), TokenRequest{Scopes: plainReq.Scopes, ForceRefresh: true})
			src.next(t).answer(Token{AccessToken: "D", ExpiresOn: hour()}, nil)
			must(t, again)
		}

		// 30 s after the previous recovery call, the next one asks again.
		time.Sleep(time.Second)
		got = async(r, context.Background(), invalidTokenReq)
		src.next(t).answer(Token{AccessToken: "E", ExpiresOn: time.Now().Add(10 * time.Second)}, nil)
		if res := must(t, got); res.tok.AccessToken != "E" {
			t.Errorf("got %q, want E", res.tok.AccessToken)
		}
		if tok := tokenOf(t, r, plainReq); tok.AccessToken != "E" {
			t.Errorf("a plain request got %s, want the recovery's token", tok.AccessToken)
		}

		// Within the interval but with no token left to serve (E is past
		// its margin), the source is asked.
		time.Sleep(10 * time.Second)
		got = async(r, context.Background(), invalidTokenReq)
		src.next(t).answer(Token{AccessToken: "F", ExpiresOn: hour()}, nil)
		must(t, got)
		src.none(t)
	})
}
