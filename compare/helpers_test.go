package compare

import (
	"log/slog"
	"net/http"
	"testing"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/bearerhttp/bearer/authtest"
	"github.com/bearerhttp/bearer/credential"
	"github.com/bearerhttp/bearer/flow"
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

// newMSAL is MSAL Go's confidential client for the comparisons'
// application (lookupClientID, lookupSecret) at authority, sending through
// client.
func newMSAL(tb testing.TB, authority string, client *http.Client, opts ...confidential.Option) confidential.Client {
	tb.Helper()
	cred, err := confidential.NewCredFromSecret(lookupSecret)
	if err != nil {
		tb.Fatal(err)
	}
	app, err := confidential.New(authority, lookupClientID, cred, append([]confidential.Option{confidential.WithHTTPClient(client)}, opts...)...)
	if err != nil {
		tb.Fatal(err)
	}
	return app
}

// newBearer is bearer's confidential application for the same
// registration at authority, sending through client.
func newBearer(tb testing.TB, authority string, client *http.Client, opts ...flow.Option) *flow.Confidential {
	tb.Helper()
	app, err := flow.NewConfidential(lookupClientID, credential.Secret(lookupSecret),
		append([]flow.Option{flow.WithAuthority(authority), flow.WithHTTPClient(client)}, opts...)...)
	if err != nil {
		tb.Fatal(err)
	}
	return app
}
