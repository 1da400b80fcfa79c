package authtest_test

import (
	"testing"
	"time"

	"github.com/bearerhttp/bearer/authtest"
)

func TestClock(t *testing.T) {
	t.Run("real_time_by_default", func(t *testing.T) {
		srv := authtest.NewServer(t)
		before := time.Now()
		now := srv.Now()
		if now.Before(before) || now.After(time.Now()) {
			t.Errorf("Now = %v, want real time", now)
		}
	})
	t.Run("advance_real_time", func(t *testing.T) {
		srv := authtest.NewServer(t)
		srv.Advance(48 * time.Hour)
		if d := time.Until(srv.Now()); d < 47*time.Hour || d > 49*time.Hour {
			t.Errorf("Now is %v ahead, want 48h", d)
		}
	})
	t.Run("set_now_stops_the_clock", func(t *testing.T) {
		srv := authtest.NewServer(t)
		t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
		srv.Advance(time.Hour) // forgotten by SetNow
		srv.SetNow(t0)
		if first, second := srv.Now(), srv.Now(); !first.Equal(t0) || !second.Equal(t0) { // stopped: two reads agree
			t.Errorf("Now = %v, want %v", srv.Now(), t0)
		}
		srv.Advance(90 * time.Second)
		if !srv.Now().Equal(t0.Add(90 * time.Second)) {
			t.Errorf("after Advance: %v", srv.Now())
		}
	})
	t.Run("with_clock", func(t *testing.T) {
		base := time.Date(2029, 6, 1, 12, 0, 0, 0, time.UTC)
		calls := 0
		srv := authtest.NewServer(t, authtest.WithClock(func() time.Time { calls++; return base }))
		srv.Advance(time.Minute)
		if !srv.Now().Equal(base.Add(time.Minute)) || calls == 0 {
			t.Errorf("Now = %v, want the given clock plus the offset", srv.Now())
		}
		register(srv)
		r := appToken(t, srv, "https://graph.microsoft.com/.default")
		if c := claims(t, r.str("access_token")); c["iat"] != float64(base.Add(time.Minute).Unix()) {
			t.Errorf("iat = %v, want the server clock", c["iat"])
		}
	})
}
