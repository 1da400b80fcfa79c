// Command bearer signs you in to Microsoft Entra ID (or any OpenID Connect
// authority), prints access tokens and calls APIs with them: what
// `az account get-access-token | curl` does, in one program, with the
// claims-challenge recovery of [github.com/bearerhttp/bearer.Transport].
//
// Usage:
//
//	bearer login [--interactive]              sign in (a device code by default)
//	bearer token --scope S [--json]           print an access token
//	bearer get|post|put|patch|delete URL      call an API with a token
//	bearer accounts                           list the signed-in accounts
//	bearer logout [--all]                     sign out
//
// Run `bearer --help` for every flag, the environment variables and the
// exit statuses. Tokens are kept in an MSAL token cache file (mode 0600,
// with a lock file, shared safely by concurrent runs) in the user's
// configuration directory: $XDG_CONFIG_HOME/bearer or ~/.config/bearer on
// Linux, ~/Library/Application Support/bearer on macOS, %AppData%\bearer
// on Windows, or $BEARER_CONFIG_DIR.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}
