package authtest_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bearerhttp/bearer/authtest"
)

func ccForm() url.Values {
	return form("grant_type", "client_credentials", "client_id", appID, "client_secret", appSecret, "scope", "https://graph.microsoft.com/.default")
}

func TestInjectFaults(t *testing.T) {
	srv := newServer(t)
	t.Run("status_with_retry_after", func(t *testing.T) {
		srv.InjectFaults(2, authtest.Fault{Status: 503, RetryAfter: "7"})
		for i := range 2 {
			r := post(t, srv, tokenURL(srv, contosoTID), ccForm())
			if r.status != 503 || r.header.Get("Retry-After") != "7" || r.str("error") != "temporarily_unavailable" {
				t.Fatalf("request %d: %d %v %s", i, r.status, r.header, r.raw)
			}
		}
		if r := post(t, srv, tokenURL(srv, contosoTID), ccForm()); r.status != 200 {
			t.Fatalf("third request: %d %s, want the fault used up", r.status, r.raw)
		}
	})
	t.Run("status_defaults", func(t *testing.T) {
		for status, code := range map[int]string{429: "temporarily_unavailable", 500: "server_error", 502: "server_error", 400: "invalid_request"} {
			srv.InjectFaults(1, authtest.Fault{Status: status})
			if r := post(t, srv, tokenURL(srv, contosoTID), ccForm()); r.status != status || r.str("error") != code {
				t.Errorf("status %d: %d %s", status, r.status, r.raw)
			}
		}
	})
	t.Run("oauth_error", func(t *testing.T) {
		srv.InjectFaults(1, authtest.Fault{Error: "invalid_grant", Suberror: "consent_required", ErrorCodes: []int{65001, 50000},
			Description: "The user or administrator has not consented.", Claims: `{"access_token":{"capolids":{"essential":true,"values":["x"]}}}`})
		r := post(t, srv, tokenURL(srv, contosoTID), ccForm())
		r.wantError(t, 400, "invalid_grant", 65001)
		if r.str("suberror") != "consent_required" || len(r.codes()) != 2 || !strings.Contains(r.str("claims"), "capolids") {
			t.Errorf("%s", r.raw)
		}
	})
	t.Run("raw_body", func(t *testing.T) {
		srv.InjectFaults(1, authtest.Fault{Body: `{"access_token": "trunc`})
		resp, err := srv.Client().PostForm(tokenURL(srv, contosoTID), ccForm())
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != `{"access_token": "trunc` {
			t.Errorf("%d %q", resp.StatusCode, b)
		}
	})
	t.Run("drop", func(t *testing.T) {
		srv.InjectFaults(1, authtest.Fault{Drop: true})
		resp, err := srv.Client().PostForm(tokenURL(srv, contosoTID), ccForm())
		if err == nil {
			resp.Body.Close()
			t.Fatalf("dropped connection answered %d", resp.StatusCode)
		}
		reqs := srv.RequestsTo(authtest.EndpointToken)
		last := reqs[len(reqs)-1]
		if !last.Fault || last.Status != 0 {
			t.Errorf("record = %+v, want Fault and no status", last)
		}
	})
	t.Run("delay_then_answer", func(t *testing.T) {
		srv.InjectFaults(1, authtest.Fault{Delay: 20 * time.Millisecond})
		start := time.Now()
		if r := post(t, srv, tokenURL(srv, contosoTID), ccForm()); r.status != 200 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		if d := time.Since(start); d < 20*time.Millisecond {
			t.Errorf("answered after %v, want the 20ms delay", d)
		}
	})
	t.Run("delay_ends_when_the_client_gives_up", func(t *testing.T) {
		delaying := make(chan struct{}, 1)
		srv := newServer(t, authtest.WithLogger(slog.New(&hookHandler{msg: "delaying", ch: delaying})))
		srv.InjectFaults(1, authtest.Fault{Delay: time.Hour})
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			<-delaying // the server holds the request
			cancel()
		}()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, tokenURL(srv, contosoTID), strings.NewReader(ccForm().Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := srv.Client().Do(req)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("the delayed request answered %d", resp.StatusCode)
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
		// Close waits for running handlers: it returns only if the
		// delayed handler noticed that the client went away.
		closed := make(chan struct{})
		go func() { srv.Close(); close(closed) }()
		select {
		case <-closed:
		case <-time.After(30 * time.Second):
			t.Fatal("the delayed handler kept running after the client gave up")
		}
		if r := lastTokenRequest(srv); !r.Fault || r.Status != 0 {
			t.Errorf("record = %+v, want a faulted request with no answer", r)
		}
	})
	t.Run("other_endpoint", func(t *testing.T) {
		srv.InjectFaults(1, authtest.Fault{Endpoint: authtest.EndpointOpenIDConfiguration, Status: 500})
		if r := post(t, srv, tokenURL(srv, contosoTID), ccForm()); r.status != 200 {
			t.Fatalf("token endpoint hit by a discovery fault: %d", r.status)
		}
		if r := get(t, srv, srv.Authority(contosoTID)+"/v2.0/.well-known/openid-configuration"); r.status != 500 {
			t.Fatalf("discovery: %d", r.status)
		}
	})
	t.Run("clear", func(t *testing.T) {
		srv.InjectFaults(5, authtest.Fault{Status: 500})
		srv.ClearFaults()
		if r := post(t, srv, tokenURL(srv, contosoTID), ccForm()); r.status != 200 {
			t.Fatalf("%d", r.status)
		}
	})
}

func lastTokenRequest(srv *authtest.Server) authtest.Request {
	reqs := srv.RequestsTo(authtest.EndpointToken)
	return reqs[len(reqs)-1]
}

func TestRequests(t *testing.T) {
	srv := newServer(t)
	now := time.Date(2031, 7, 1, 0, 0, 0, 0, time.UTC)
	srv.SetNow(now)
	get(t, srv, srv.Authority("common")+"/v2.0/.well-known/openid-configuration")
	req, _ := http.NewRequest(http.MethodPost, tokenURL(srv, "contoso.com"), strings.NewReader(ccForm().Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("x-client-SKU", "test-sku")
	do(t, srv.Client(), req)
	all := srv.Requests()
	if len(all) != 2 {
		t.Fatalf("%d requests recorded", len(all))
	}
	d, tok := all[0], all[1]
	if d.Endpoint != authtest.EndpointOpenIDConfiguration || d.Tenant != "common" || d.Method != "GET" || d.Status != 200 {
		t.Errorf("discovery record = %+v", d)
	}
	if tok.Endpoint != authtest.EndpointToken || tok.GrantType != "client_credentials" || tok.Tenant != "contoso.com" ||
		tok.Form.Get("client_secret") != appSecret || tok.Header.Get("x-client-SKU") != "test-sku" || !tok.Time.Equal(now) ||
		tok.Status != 200 || tok.Host != strings.TrimPrefix(srv.URL, "http://") || tok.Path != "/contoso.com/oauth2/v2.0/token" {
		t.Errorf("token record = %+v (form %v)", tok, tok.Form)
	}
	if srv.TokenRequests() != 1 || srv.CountRequests(authtest.EndpointOpenIDConfiguration) != 1 {
		t.Errorf("counters: %d token, %d discovery", srv.TokenRequests(), srv.CountRequests(authtest.EndpointOpenIDConfiguration))
	}
	// Records are copies.
	all[1].Form.Set("client_secret", "changed")
	if srv.Requests()[1].Form.Get("client_secret") != appSecret {
		t.Errorf("Requests returned the server's own record")
	}
	srv.ResetRequests()
	if len(srv.Requests()) != 0 || srv.TokenRequests() != 0 {
		t.Errorf("ResetRequests kept records")
	}
}

// hookHandler is a slog handler that signals ch when a record whose
// message contains msg is logged.
type hookHandler struct {
	msg string
	ch  chan struct{}
}

func (h *hookHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *hookHandler) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, h.msg) {
		select {
		case h.ch <- struct{}{}:
		default:
		}
	}
	return nil
}

func (h *hookHandler) WithAttrs([]slog.Attr) slog.Handler { return h }

func (h *hookHandler) WithGroup(string) slog.Handler { return h }
