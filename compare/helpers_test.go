package compare

import (
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/bearerhttp/bearer/authtest"
)

// newAuthority starts authtest in TLS mode (its Client answers for Entra's
// real host names) with the application of these comparisons registered,
// and without its log of the errors it answers (faults are expected here).
func newAuthority(tb testing.TB) *authtest.Server {
	tb.Helper()
	srv := authtest.NewTLSServer(tb, authtest.WithLogger(slog.New(slog.DiscardHandler)))
	srv.AddClient(authtest.Client{ID: lookupClientID, Secret: lookupSecret})
	return srv
}

// msalClient is srv's client for MSAL Go, with one adjustment: MSAL Go adds
// "openid offline_access profile" to the scope of every token request,
// client credentials included. Entra ignores those three there; authtest
// refuses them (AADSTS1002012), so this client takes them out of
// client_credentials requests before they leave. It changes no count,
// host or path of any request.
func msalClient(srv *authtest.Server) *http.Client {
	c := *srv.Client()
	c.Transport = stripOIDCScopes{c.Transport}
	return &c
}

// stripOIDCScopes removes openid, offline_access and profile from the scope
// of client_credentials token requests.
type stripOIDCScopes struct{ base http.RoundTripper }

func (s stripOIDCScopes) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodPost || req.Body == nil {
		return s.base.RoundTrip(req)
	}
	body, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return nil, err
	}
	if form, err := url.ParseQuery(string(body)); err == nil && form.Get("grant_type") == "client_credentials" {
		var keep []string
		for _, s := range strings.Fields(form.Get("scope")) {
			if s != "openid" && s != "offline_access" && s != "profile" {
				keep = append(keep, s)
			}
		}
		form.Set("scope", strings.Join(keep, " "))
		body = []byte(form.Encode())
	}
	r2 := req.Clone(req.Context())
	r2.Body = io.NopCloser(strings.NewReader(string(body)))
	r2.ContentLength = int64(len(body))
	r2.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return s.base.RoundTrip(r2)
}
