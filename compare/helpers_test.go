package compare

import (
	"log/slog"
	"testing"

	"github.com/bearerhttp/bearer/authtest"
)

// newAuthority starts authtest in TLS mode (its Client answers for Entra's
// real host names) with the application of these comparisons registered,
// and without its log of the errors it answers (faults are expected here).
// Both libraries use its Client as it is: MSAL Go adds "openid
// offline_access profile" to client-credentials scopes, which authtest,
// like Entra, ignores there.
func newAuthority(tb testing.TB) *authtest.Server {
	tb.Helper()
	srv := authtest.NewTLSServer(tb, authtest.WithLogger(slog.New(slog.DiscardHandler)))
	srv.AddClient(authtest.Client{ID: lookupClientID, Secret: lookupSecret})
	return srv
}
