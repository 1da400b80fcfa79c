package main

import (
	"context"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/bearerhttp/bearer/authtest"
)

// run starts the server as args say, prints where it listens to stdout,
// and serves until ctx ends.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("authtest", flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.Usage = func() {
		fmt.Fprint(stdout, usage)
		fs.PrintDefaults()
	}
	addr := fs.String("addr", "127.0.0.1:8400", "`address` to listen on (host:port; port 0 picks one)")
	useTLS := fs.Bool("tls", false, "serve HTTPS with a certificate authority of the server's own")
	caOut := fs.String("ca-out", "", "with -tls, write the certificate authority as PEM to this `file`")
	configPath := fs.String("config", "", "JSON `file` of clients, users, APIs, managed identities, tenants and region")
	region := fs.String("region", "", "`region` reported by the instance metadata stand-in (overrides the config)")
	lifetime := fs.Duration("token-lifetime", time.Hour, "lifetime of access tokens")
	quiet := fs.Bool("quiet", false, "do not log error responses")
	deviceInterval := fs.Duration("device-code-interval", 5*time.Second, "the polling `interval` the device authorization endpoint asks for (whole seconds)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if *caOut != "" && !*useTLS {
		return fmt.Errorf("-ca-out needs -tls")
	}
	var cfg config
	if *configPath != "" {
		var err error
		if cfg, err = loadConfig(*configPath); err != nil {
			return err
		}
	}
	if *region != "" {
		cfg.Region = *region
	}
	handler := slog.Handler(slog.NewTextHandler(stdout, nil))
	if *quiet {
		handler = slog.DiscardHandler
	}
	opts := []authtest.Option{
		authtest.WithAddr(*addr),
		authtest.WithRegion(cfg.Region),
		authtest.WithTokenLifetime(*lifetime),
		authtest.WithLogger(slog.New(handler)),
		authtest.WithRequestLimit(10000),
		authtest.WithDeviceCodeInterval(*deviceInterval),
	}
	if *useTLS {
		opts = append(opts, authtest.WithTLS())
	}
	srv, err := authtest.Start(opts...)
	if err != nil {
		return err
	}
	defer srv.Close()
	if err := cfg.register(srv); err != nil {
		return err
	}
	if *caOut != "" {
		b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.CACertificate().Raw})
		if err := os.WriteFile(*caOut, b, 0o644); err != nil {
			return fmt.Errorf("write the CA certificate: %w", err)
		}
	}
	printBanner(stdout, srv, cfg, *caOut)
	<-ctx.Done()
	fmt.Fprintln(stdout, "authtest: shutting down")
	return nil
}

// printBanner tells where the server listens and what it knows.
func printBanner(w io.Writer, srv *authtest.Server, cfg config, caOut string) {
	fmt.Fprintf(w, "authtest listening on %s\n", srv.URL)
	tenants := map[string]bool{authtest.DefaultTenant: true}
	for _, u := range cfg.Users {
		if _, d, ok := strings.Cut(u.Username, "@"); ok {
			tenants[d] = true
		}
		if u.TenantID != "" {
			tenants[u.TenantID] = true
		}
	}
	names := make([]string, 0, len(tenants))
	for t := range tenants {
		names = append(names, t)
	}
	sort.Strings(names)
	for _, t := range append(names, "organizations", "common") {
		// Programs reach the server by its address, not by Entra's names.
		fmt.Fprintf(w, "authority: %s/%s\n", srv.URL, t)
	}
	fmt.Fprintf(w, "graph:     %s/v1.0/me\n", srv.URL)
	if caOut != "" {
		fmt.Fprintf(w, "CA certificate written to %s\n", caOut)
	}
	if cfg.Region != "" {
		fmt.Fprintf(w, "region:    %s (GET %s/metadata/instance/compute/location?format=text&api-version=2021-01-01 with Metadata: true)\n", cfg.Region, srv.URL)
	}
	// The last line of the banner.
	fmt.Fprintf(w, "registered: %d client(s), %d user(s), %d API(s) besides Microsoft Graph\n", len(cfg.Clients), len(cfg.Users), len(cfg.APIs))
}
