package flow

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bearerhttp/bearer/authtest"
	"github.com/bearerhttp/bearer/credential"
)

// withPollWait replaces the wait between two polls of a device code.
func withPollWait(f func(ctx context.Context, d time.Duration) error) Option {
	return func(c *config) { c.pollWait = f }
}

// poller plays the time between polls: it records each wait asked for,
// moves the server's clock by it (unless hold is set for that wait), and
// runs the user's action of that wait, if any.
type poller struct {
	srv     *authtest.Server
	mu      sync.Mutex
	waits   []time.Duration
	hold    map[int]bool   // waits (1-based) after which the clock does not move
	actions map[int]func() // what the user does during wait n (1-based)
}

func (p *poller) wait(ctx context.Context, d time.Duration) error {
	p.mu.Lock()
	p.waits = append(p.waits, d)
	n := len(p.waits)
	hold, act := p.hold[n], p.actions[n]
	p.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	if !hold {
		p.srv.Advance(d)
	}
	if act != nil {
		act()
	}
	return nil
}

func (p *poller) got() []time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Duration(nil), p.waits...)
}

// deviceSigner is what both kinds of application offer for device code.
type deviceSigner interface {
	AcquireTokenByDeviceCode(ctx context.Context, scopes []string, callback func(context.Context, DeviceCode) error, opts ...CallOption) (Result, error)
	AcquireTokenSilent(ctx context.Context, scopes []string, account Account, opts ...CallOption) (Result, error)
}

var (
	_ deviceSigner = (*Public)(nil)
	_ deviceSigner = (*Confidential)(nil)
)

func TestDeviceCodeSignsUserIn(t *testing.T) {
	for _, kind := range []string{"public", "confidential"} {
		t.Run(kind, func(t *testing.T) {
			srv := userServer(t)
			var lb logBuffer
			p := &poller{srv: srv}
			opts := []Option{WithCapabilities("cp1"), WithLogger(lb.logger()), withPollWait(p.wait)}
			var app deviceSigner
			if kind == "public" {
				app = publicApp(t, srv, "organizations", opts...)
			} else {
				app = webApp(t, srv, "organizations", opts...)
			}
			var shown DeviceCode
			p.actions = map[int]func(){2: func() {
				if err := srv.ApproveDeviceCode(shown.UserCode, aliceUser); err != nil {
					t.Error(err)
				}
			}}
			r, err := app.AcquireTokenByDeviceCode(bg(), []string{"User.Read"}, func(ctx context.Context, dc DeviceCode) error {
				if srv.CountRequests(authtest.EndpointToken) != 0 {
					t.Errorf("polling started before the callback")
				}
				shown = dc
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if shown.UserCode == "" || shown.VerificationURI != "https://login.microsoftonline.com/devicelogin" ||
				!shown.ExpiresOn.Equal(t0.Add(15*time.Minute)) || shown.Interval != 5*time.Second ||
				!strings.Contains(shown.Message, shown.UserCode) || !strings.Contains(shown.Message, shown.VerificationURI) {
				t.Errorf("callback got %+v", shown)
			}
			if got, want := p.got(), []time.Duration{5 * time.Second, 5 * time.Second}; !reflect.DeepEqual(got, want) {
				t.Errorf("waits %v, want %v (the interval before each poll)", got, want)
			}
			if r.Account.Username != aliceUser || r.AccessToken == "" || r.IDTokenClaims["preferred_username"] != aliceUser || r.FromCache {
				t.Errorf("result %+v", r)
			}
			da := srv.RequestsTo(authtest.EndpointDeviceCode)
			polls := srv.RequestsTo(authtest.EndpointToken)
			if len(da) != 1 || len(polls) != 2 {
				t.Fatalf("%d device authorization requests, %d polls; want 1 and 2", len(da), len(polls))
			}
			if f := da[0].Form; f.Get("client_id") != map[bool]string{true: pubID, false: webID}[kind == "public"] ||
				f.Get("scope") != "User.Read openid offline_access profile" || f.Get("claims") != `{"access_token":{"xms_cc":{"values":["cp1"]}}}` ||
				(f.Get("client_secret") != "") != (kind == "confidential") {
				t.Errorf("device authorization form %v", redactForm(f))
			}
			deviceCode := polls[0].Form.Get("device_code")
			for _, pr := range polls {
				f := pr.Form
				if f.Get("grant_type") != "urn:ietf:params:oauth:grant-type:device_code" || f.Get("device_code") != deviceCode ||
					f.Get("client_info") != "1" || f.Get("scope") != "User.Read openid offline_access profile" ||
					f.Get("claims") == "" || (f.Get("client_secret") != "") != (kind == "confidential") {
					t.Errorf("poll form %v", redactForm(f))
				}
			}
			if !polls[1].Time.Equal(t0.Add(10 * time.Second)) {
				t.Errorf("second poll at %v, want t0+10s", polls[1].Time)
			}
			// The tokens were cached under the account.
			again, err := app.AcquireTokenSilent(bg(), []string{"User.Read"}, r.Account)
			if err != nil || !again.FromCache || again.AccessToken != r.AccessToken {
				t.Fatalf("silent after device code: %+v, %v", again, err)
			}
			// Neither code is logged.
			if len(deviceCode) < 16 || strings.Contains(lb.String(), deviceCode) || strings.Contains(lb.String(), shown.UserCode) {
				t.Errorf("the log shows a code:\n%s", lb.String())
			}
			if !strings.Contains(lb.String(), "device code") {
				t.Errorf("nothing logged about the device code:\n%s", lb.String())
			}
		})
	}
}

// redactForm shows a form without its secrets, for failure messages.
func redactForm(f map[string][]string) map[string][]string {
	out := map[string][]string{}
	for k, v := range f {
		switch k {
		case "device_code", "client_secret", "refresh_token", "code", "code_verifier":
			out[k] = []string{"…"}
		default:
			out[k] = v
		}
	}
	return out
}

func TestDeviceCodeHonoursSlowDown(t *testing.T) {
	srv := authtest.NewTLSServer(t, authtest.WithDeviceCodeSlowDown())
	srv.SetNow(t0)
	srv.AddClient(authtest.Client{ID: pubID, Public: true})
	srv.AddUser(authtest.User{Username: aliceUser, Password: alicePass, TenantID: contosoID})
	var code string
	// The second wait does not move the clock: the second poll comes too
	// soon, the authority answers slow_down, and the interval grows by 5 s.
	p := &poller{srv: srv, hold: map[int]bool{2: true}, actions: map[int]func(){4: func() {
		if err := srv.ApproveDeviceCode(code, aliceUser); err != nil {
			t.Error(err)
		}
	}}}
	app := publicApp(t, srv, "organizations", withPollWait(p.wait))
	r, err := app.AcquireTokenByDeviceCode(bg(), nil, func(_ context.Context, dc DeviceCode) error { code = dc.UserCode; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.got(), []time.Duration{5 * time.Second, 5 * time.Second, 10 * time.Second, 10 * time.Second}; !reflect.DeepEqual(got, want) {
		t.Errorf("waits %v, want %v", got, want)
	}
	var statuses []int
	for _, pr := range srv.RequestsTo(authtest.EndpointToken) {
		statuses = append(statuses, pr.Status)
	}
	if want := []int{400, 400, 400, 200}; !reflect.DeepEqual(statuses, want) {
		t.Errorf("poll answers %v, want %v", statuses, want)
	}
	if r.Account.Username != aliceUser {
		t.Errorf("account %+v", r.Account)
	}
}

// fakeAuthority is a loopback authority at {s.URL}/common that serves
// its discovery document.
func fakeAuthority(t *testing.T) *server {
	t.Helper()
	s := newServer(t)
	s.handle("/common/v2.0/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, metadataDoc(s.URL+"/common", s.URL+"/{tenantid}/v2.0"))
	})
	return s
}

// fakeDevice is a device authorization endpoint and a token endpoint
// that answers every poll with the next of answers (the last one
// repeated), each an error code or "" for tokens.
func fakeDevice(t *testing.T, interval int, answers ...string) *server {
	t.Helper()
	s := fakeAuthority(t)
	var mu sync.Mutex
	n := 0
	s.handle("/common/oauth2/v2.0/devicecode", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, fmt.Sprintf(`{"device_code":"DEVICE-code-SECRET-0123456789","user_code":"USERCODE7","verification_uri":"https://microsoft.com/devicelogin","expires_in":60,"interval":%d,"message":"enter USERCODE7"}`, interval))
	})
	s.handle("/common/oauth2/v2.0/token", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		a := answers[min(n, len(answers)-1)]
		n++
		mu.Unlock()
		if a == "" {
			writeJSON(w, 200, `{"access_token":"AT-device","token_type":"Bearer","expires_in":3600}`)
			return
		}
		writeJSON(w, 400, `{"error":"`+a+`","error_description":"AADSTS1: `+a+` for DEVICE-code-SECRET-0123456789"}`)
	})
	return s
}

func TestDeviceCodeStops(t *testing.T) {
	tests := []struct {
		name    string
		answers []string
		want    error
		code    string
		polls   int
	}{
		{"expired_token", []string{"authorization_pending", "expired_token"}, ErrDeviceCodeExpired, "expired_token", 2},
		{"code_expired", []string{"code_expired"}, ErrDeviceCodeExpired, "code_expired", 1},
		{"authorization_declined", []string{"authorization_pending", "authorization_declined"}, ErrAuthorizationDeclined, "authorization_declined", 2},
		{"access_denied", []string{"access_denied"}, ErrAuthorizationDeclined, "access_denied", 1},
		{"bad_verification_code", []string{"bad_verification_code"}, ErrBadVerificationCode, "bad_verification_code", 1},
		{"other_error", []string{"authorization_pending", "invalid_client"}, nil, "invalid_client", 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := fakeDevice(t, 2, tc.answers...)
			c := newClock()
			var waits []time.Duration
			app := mustPublic(t, pubID, WithAuthority(s.URL+"/common"), WithClock(c.Now), withPollWait(func(_ context.Context, d time.Duration) error {
				waits = append(waits, d)
				c.Add(d)
				return nil
			}))
			_, err := app.AcquireTokenByDeviceCode(bg(), []string{"User.Read"}, func(context.Context, DeviceCode) error { return nil })
			if err == nil {
				t.Fatal("no error")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("error %v, want %v", err, tc.want)
			}
			for _, other := range []error{ErrDeviceCodeExpired, ErrAuthorizationDeclined, ErrBadVerificationCode} {
				if other != tc.want && errors.Is(err, other) {
					t.Errorf("error %v also matches %v", err, other)
				}
			}
			if fe := asError(t, err); fe.Code != tc.code {
				t.Errorf("authority error %q, want %q", fe.Code, tc.code)
			}
			if strings.Contains(err.Error(), "DEVICE-code-SECRET") || strings.Contains(err.Error(), "USERCODE7") {
				t.Errorf("the error shows a code: %v", err)
			}
			if got := s.count("/common/oauth2/v2.0/token"); got != tc.polls {
				t.Errorf("%d polls, want %d", got, tc.polls)
			}
			if len(waits) != tc.polls || waits[0] != 2*time.Second {
				t.Errorf("waits %v", waits)
			}
		})
	}
}

func TestDeviceCodeStopsAtExpiryWithoutAskingAgain(t *testing.T) {
	s := fakeDevice(t, 25, "authorization_pending")
	c := newClock()
	var waits []time.Duration
	app := mustPublic(t, pubID, WithAuthority(s.URL+"/common"), WithClock(c.Now), withPollWait(func(_ context.Context, d time.Duration) error {
		waits = append(waits, d)
		c.Add(d)
		return nil
	}))
	var shown DeviceCode
	_, err := app.AcquireTokenByDeviceCode(bg(), nil, func(_ context.Context, dc DeviceCode) error { shown = dc; return nil })
	if !errors.Is(err, ErrDeviceCodeExpired) {
		t.Fatalf("error %v, want ErrDeviceCodeExpired", err)
	}
	// 60 s of life at 25 s: polls at 25 s, 50 s and 60 s (the last wait cut
	// to what was left), then no poll after the expiry.
	if want := []time.Duration{25 * time.Second, 25 * time.Second, 10 * time.Second}; !reflect.DeepEqual(waits, want) {
		t.Errorf("waits %v, want %v", waits, want)
	}
	if n := s.count("/common/oauth2/v2.0/token"); n != 3 {
		t.Errorf("%d polls, want 3", n)
	}
	if !shown.ExpiresOn.Equal(testNow.Add(time.Minute)) || shown.Interval != 25*time.Second || shown.UserCode != "USERCODE7" || shown.Message != "enter USERCODE7" {
		t.Errorf("device code %+v", shown)
	}
}

func TestDeviceCodeSlowDownGrowsUpToFiveMinutes(t *testing.T) {
	s := fakeAuthority(t)
	s.handle("/common/oauth2/v2.0/devicecode", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, `{"device_code":"d","user_code":"U","verification_uri":"https://microsoft.com/devicelogin","expires_in":86400,"interval":290}`)
	})
	n := 0
	s.handle("/common/oauth2/v2.0/token", func(w http.ResponseWriter, r *http.Request) {
		n++
		if n > 3 {
			writeJSON(w, 400, `{"error":"authorization_declined"}`)
			return
		}
		writeJSON(w, 400, `{"error":"slow_down"}`)
	})
	var waits []time.Duration
	app := mustPublic(t, pubID, WithAuthority(s.URL+"/common"), WithClock(newClock().Now), withPollWait(func(_ context.Context, d time.Duration) error {
		waits = append(waits, d)
		return nil
	}))
	_, err := app.AcquireTokenByDeviceCode(bg(), nil, func(context.Context, DeviceCode) error { return nil })
	if !errors.Is(err, ErrAuthorizationDeclined) {
		t.Fatalf("error %v", err)
	}
	if want := []time.Duration{290 * time.Second, 295 * time.Second, 300 * time.Second, 300 * time.Second}; !reflect.DeepEqual(waits, want) {
		t.Errorf("waits %v, want %v", waits, want)
	}
}

func TestDeviceCodeDeclinedAtAuthtest(t *testing.T) {
	srv := userServer(t)
	var code string
	p := &poller{srv: srv, actions: map[int]func(){1: func() {
		if err := srv.DeclineDeviceCode(code); err != nil {
			t.Error(err)
		}
	}}}
	app := publicApp(t, srv, "organizations", withPollWait(p.wait))
	_, err := app.AcquireTokenByDeviceCode(bg(), []string{"User.Read"}, func(_ context.Context, dc DeviceCode) error { code = dc.UserCode; return nil })
	if !errors.Is(err, ErrAuthorizationDeclined) || asError(t, err).Code != "authorization_declined" {
		t.Fatalf("error %v, want ErrAuthorizationDeclined", err)
	}
	if errors.Is(err, ErrInteractionRequired) {
		t.Errorf("a declined sign-in matches ErrInteractionRequired")
	}
}

func TestDeviceCodeExpiresAtAuthtest(t *testing.T) {
	srv := userServer(t)
	p := &poller{srv: srv, actions: map[int]func(){1: func() { srv.Advance(15 * time.Minute) }}}
	app := publicApp(t, srv, "organizations", withPollWait(p.wait))
	_, err := app.AcquireTokenByDeviceCode(bg(), nil, func(context.Context, DeviceCode) error { return nil })
	if !errors.Is(err, ErrDeviceCodeExpired) || asError(t, err).Code != "expired_token" {
		t.Fatalf("error %v, want ErrDeviceCodeExpired from expired_token", err)
	}
}

func TestDeviceCodeStopsWhenContextEnds(t *testing.T) {
	srv := userServer(t)
	t.Run("cancelled_during_the_wait", func(t *testing.T) {
		// The default wait (a timer of 5 s) returns as soon as the
		// context is cancelled.
		app := publicApp(t, srv, "organizations")
		ctx, cancel := context.WithCancel(bg())
		defer cancel()
		_, err := app.AcquireTokenByDeviceCode(ctx, nil, func(context.Context, DeviceCode) error {
			cancel()
			return nil
		})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("error %v, want context.Canceled", err)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		app := publicApp(t, srv, "organizations", withPollWait(sleepCtx))
		ctx, cancel := context.WithDeadline(bg(), time.Now().Add(-time.Second))
		defer cancel()
		_, err := app.AcquireTokenByDeviceCode(ctx, nil, func(context.Context, DeviceCode) error { return nil })
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("error %v, want context.DeadlineExceeded", err)
		}
	})
	t.Run("cancelled_between_polls", func(t *testing.T) {
		ctx, cancel := context.WithCancel(bg())
		defer cancel()
		p := &poller{srv: srv, actions: map[int]func(){2: cancel}}
		app := publicApp(t, srv, "organizations", withPollWait(func(ctx context.Context, d time.Duration) error {
			if err := p.wait(ctx, d); err != nil {
				return err
			}
			return ctx.Err()
		}))
		before := srv.CountRequests(authtest.EndpointToken)
		_, err := app.AcquireTokenByDeviceCode(ctx, nil, func(context.Context, DeviceCode) error { return nil })
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("error %v, want context.Canceled", err)
		}
		if n := srv.CountRequests(authtest.EndpointToken) - before; n != 1 {
			t.Errorf("%d polls, want 1 (none after the cancellation)", n)
		}
	})
}

func TestDeviceCodeCallbackErrorStopsBeforePolling(t *testing.T) {
	srv := userServer(t)
	app := publicApp(t, srv, "organizations", withPollWait(func(context.Context, time.Duration) error {
		t.Error("waited after the callback failed")
		return nil
	}))
	boom := errors.New("no terminal")
	_, err := app.AcquireTokenByDeviceCode(bg(), nil, func(context.Context, DeviceCode) error { return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("error %v, want the callback's", err)
	}
	if n := srv.CountRequests(authtest.EndpointToken); n != 0 {
		t.Errorf("%d polls after the callback failed", n)
	}
}

func TestDeviceCodeRefusals(t *testing.T) {
	srv := userServer(t)
	nop := func(context.Context, DeviceCode) error { return nil }
	t.Run("options_it_does_not_use", func(t *testing.T) {
		app := publicApp(t, srv, "organizations")
		for _, o := range []CallOption{ForceRefresh(), LoginHint(aliceUser), Prompt(PromptLogin), State("s"), MaxAge(time.Minute)} {
			if _, err := app.AcquireTokenByDeviceCode(bg(), nil, nop, o); !errors.Is(err, ErrInvalidOption) {
				t.Errorf("error %v, want ErrInvalidOption", err)
			}
		}
		if _, err := app.AcquireTokenByDeviceCode(bg(), nil, nil); !errors.Is(err, ErrInvalidOption) {
			t.Errorf("nil callback: error %v, want ErrInvalidOption", err)
		}
		if n := len(srv.Requests()); n != 0 {
			t.Errorf("%d requests for refused calls", n)
		}
	})
	t.Run("b2c_has_no_device_code", func(t *testing.T) {
		app := mustPublic(t, pubID, WithAuthority("https://contoso.b2clogin.com/contoso.onmicrosoft.com/B2C_1_signin"), WithHTTPClient(refuseClient(t)))
		if _, err := app.AcquireTokenByDeviceCode(bg(), nil, nop); !errors.Is(err, ErrUnsupported) {
			t.Errorf("error %v, want ErrUnsupported", err)
		}
	})
	t.Run("unknown_client", func(t *testing.T) {
		app := mustPublic(t, "99999999-aaaa-4bbb-8ccc-000000000009", appOpts(srv, "organizations")...)
		_, err := app.AcquireTokenByDeviceCode(bg(), nil, nop)
		if fe := asError(t, err); fe.Code != "unauthorized_client" {
			t.Errorf("error %v", err)
		}
	})
	t.Run("confidential_wrong_secret", func(t *testing.T) {
		app := mustConfidential(t, webID, credential.Secret("not-the-secret-VALUE"), appOpts(srv, "organizations", withPollWait(func(context.Context, time.Duration) error { return nil }))...)
		_, err := app.AcquireTokenByDeviceCode(bg(), nil, nop)
		if err == nil || strings.Contains(err.Error(), "not-the-secret-VALUE") {
			t.Errorf("error %v", err)
		}
	})
	t.Run("redirects_are_refused", func(t *testing.T) {
		elsewhere := newServer(t)
		for _, path := range []string{"/common/oauth2/v2.0/devicecode", "/common/oauth2/v2.0/token"} {
			s := fakeDevice(t, 1, "")
			s.handle(path, func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, elsewhere.URL+r.URL.Path, http.StatusTemporaryRedirect)
			})
			app := mustPublic(t, pubID, WithAuthority(s.URL+"/common"), withPollWait(func(context.Context, time.Duration) error { return nil }))
			_, err := app.AcquireTokenByDeviceCode(bg(), nil, nop)
			if !errors.Is(err, ErrRedirect) || strings.Contains(err.Error(), "DEVICE-code-SECRET") {
				t.Errorf("%s: error %v, want ErrRedirect", path, err)
			}
		}
		if n := len(elsewhere.requests()); n != 0 {
			t.Errorf("%d requests followed the redirect", n)
		}
	})
	t.Run("malformed_answer", func(t *testing.T) {
		s := fakeAuthority(t)
		s.handle("/common/oauth2/v2.0/devicecode", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 200, `{"device_code":"DEVICE-code-SECRET-0123456789","user_code":"\u001b[2J","verification_uri":"https://microsoft.com/devicelogin","expires_in":60}`)
		})
		app := mustPublic(t, pubID, WithAuthority(s.URL+"/common"))
		_, err := app.AcquireTokenByDeviceCode(bg(), nil, func(context.Context, DeviceCode) error {
			t.Error("callback called with a malformed answer")
			return nil
		})
		if !errors.Is(err, ErrMalformedResponse) || strings.Contains(err.Error(), "DEVICE-code-SECRET") {
			t.Errorf("error %v, want ErrMalformedResponse without the code", err)
		}
	})
}

func TestDeviceCodeLogValueHidesTheUserCode(t *testing.T) {
	var lb logBuffer
	dc := DeviceCode{UserCode: "USERCODE7", VerificationURI: "https://microsoft.com/devicelogin", Message: "enter USERCODE7", Interval: 5 * time.Second}
	lb.logger().Debug("shown", "dc", dc)
	if strings.Contains(lb.String(), "USERCODE7") || !strings.Contains(lb.String(), "devicelogin") {
		t.Errorf("log record %s", lb.String())
	}
}
