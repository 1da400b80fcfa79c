// Command authtest runs the local Microsoft Entra ID compatible authority
// and protected resource of package authtest as a program, so that clients
// in any language can be pointed at it.
//
// Usage:
//
//	authtest [-addr 127.0.0.1:8400] [-tls] [-ca-out ca.pem] [-config config.json]
//	         [-region westus2] [-token-lifetime 1h] [-device-code-interval 5s]
//
// It prints the server's URL and authorities and serves until interrupted.
// The configuration file registers clients, users and APIs:
//
//	{
//	  "clients": [{"id": "my-app", "secret": "s3cret", "redirect_uris": ["http://localhost"]},
//	              {"id": "my-cli", "public": true, "family_id": "1"},
//	              {"id": "my-daemon", "certificate_files": ["daemon.pem"], "roles": ["Orders.Read.All"]}],
//	  "users":   [{"username": "alice@contoso.com", "password": "pw", "tenant_id": "…", "mfa": false}],
//	  "apis":    [{"audience": "api://orders", "scopes": ["Orders.Read"], "roles": ["Orders.Read.All"]}],
//	  "managed_identities": [{"client_id": "…", "resource_id": "…"}],
//	  "tenants": {"contoso.onmicrosoft.com": "…"},
//	  "region":  "westus2"
//	}
//
// With -tls the server has a certificate authority of its own; -ca-out
// writes it as PEM for clients to trust.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "authtest:", err)
		os.Exit(1)
	}
}

// usage is what -h prints before the flags.
const usage = `authtest runs a local Microsoft Entra ID compatible authority and a
protected resource (Microsoft Graph stand-in) for tests.

Usage: authtest [flags]
`
