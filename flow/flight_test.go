package flow

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bearerhttp/bearer"
)

func TestFlights(t *testing.T) {
	t.Run("shared_by_concurrent_callers", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var g flights
			calls := 0
			release := make(chan struct{})
			fn := func(ctx context.Context) (Result, error) {
				calls++
				<-release
				return Result{Token: bearer.Token{AccessToken: "t", Scopes: []string{"s"}}, IDTokenClaims: map[string]any{"a": 1.0}}, nil
			}
			results := make(chan Result, 3)
			for range 3 {
				go func() { r, _ := g.do(bg(), "k", fn); results <- r }()
			}
			synctest.Wait()
			close(release)
			a, b := <-results, <-results
			<-results
			if calls != 1 || a.AccessToken != "t" {
				t.Fatalf("%d calls", calls)
			}
			a.IDTokenClaims["a"], a.Scopes[0] = 2.0, "changed"
			if b.IDTokenClaims["a"] != 1.0 || b.Scopes[0] != "s" {
				t.Error("waiters share their result's map or slice")
			}
		})
	})
	t.Run("cancelled_when_nobody_waits", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var g flights
			stopped := make(chan error, 1)
			ctx, cancel := context.WithCancel(bg())
			errc := make(chan error, 1)
			go func() {
				_, err := g.do(ctx, "k", func(ctx context.Context) (Result, error) {
					<-ctx.Done()
					stopped <- ctx.Err()
					return Result{}, ctx.Err()
				})
				errc <- err
			}()
			synctest.Wait()
			cancel()
			if err := <-errc; !errors.Is(err, context.Canceled) {
				t.Errorf("waiter: %v", err)
			}
			if err := <-stopped; !errors.Is(err, context.Canceled) {
				t.Errorf("the call's context: %v", err)
			}
		})
	})
	t.Run("background_outlives_its_waiters_for_30s_at_most", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var g flights
			outcome := make(chan error, 1)
			start := time.Now()
			ctx, cancel := context.WithCancel(bg())
			started := g.background(ctx, "k", nil, func(ctx context.Context) (Result, error) {
				<-ctx.Done()
				return Result{}, ctx.Err()
			}, func(err error) { outcome <- err })
			if !started || g.background(ctx, "k", nil, nil, nil) {
				t.Fatal("a second background flight of one key started")
			}
			wctx, wcancel := context.WithCancel(bg())
			errc := make(chan error, 1)
			go func() { _, err := g.do(wctx, "k", nil); errc <- err }()
			synctest.Wait()
			cancel()  // the request that started the refresh ends
			wcancel() // and the one that joined it gives up
			<-errc
			err := <-outcome
			if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != refreshTimeout {
				t.Errorf("background flight ended with %v after %v", err, time.Since(start))
			}
		})
	})
	t.Run("panic_reaches_the_waiter", func(t *testing.T) {
		var g flights
		defer func() {
			if p := recover(); p != "boom" {
				t.Errorf("recovered %v", p)
			}
		}()
		g.do(bg(), "k", func(context.Context) (Result, error) { panic("boom") })
		t.Error("no panic")
	})
	t.Run("background_panic_is_an_error", func(t *testing.T) {
		var g flights
		outcome := make(chan error, 1)
		g.background(bg(), "k", nil, func(context.Context) (Result, error) { panic("boom") }, func(err error) { outcome <- err })
		if err := <-outcome; !errors.Is(err, errPanicked) {
			t.Errorf("outcome %v", err)
		}
	})
}

// TestRefreshBackoffsAreForgotten checks that the backoffs of failed
// background refreshes do not pile up: past the size bound, the ones
// whose backoff ended long ago go.
func TestRefreshBackoffsAreForgotten(t *testing.T) {
	clk := newClock()
	cfg, err := newConfig(WithClock(clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	a, err := newApp("cid", cfg)
	if err != nil {
		t.Fatal(err)
	}
	fail := errors.New("refresh failed")
	for i := range maxBackoffEntries {
		a.refreshed(bg(), fmt.Sprint("old", i), fail)
	}
	clk.Add(maxRefreshBackoff + firstRefreshBackoff + time.Second)
	a.refreshed(bg(), "new", fail)
	if n := len(a.bgBackoff); n != 1 {
		t.Errorf("%d backoffs kept, want only the new one", n)
	}
	a.refreshed(bg(), "new", nil)
	if len(a.bgBackoff) != 0 {
		t.Error("a successful refresh kept its backoff")
	}
}
