// Command daemon is the client-credentials-with-certificate scenario: a
// daemon with no user signs in as itself with a certificate and lists a
// user's 10 newest messages through Microsoft Graph, with application
// permissions (Mail.Read).
//
// Against Microsoft Entra ID (the settings may come from the environment,
// as the Azure SDKs read them):
//
//	export AZURE_TENANT_ID=contoso.onmicrosoft.com AZURE_CLIENT_ID=<app id>
//	export AZURE_CLIENT_CERTIFICATE_PATH=daemon.pem   # certificate and private key, PEM or PFX
//	go run ./examples/daemon -user alice@contoso.onmicrosoft.com
//
// Against a local authority (cmd/authtest) and its Graph stand-in:
//
//	go run ./cmd/authtest -config examples/daemon/testdata/authtest.json -addr 127.0.0.1:8400 &
//	go run ./examples/daemon -authority http://127.0.0.1:8400/contoso.onmicrosoft.com \
//	    -graph http://127.0.0.1:8400 -client-id 33333333-aaaa-4bbb-8ccc-000000000003 \
//	    -cert examples/daemon/testdata/daemon.pem -user alice@contoso.onmicrosoft.com
//
// With -graph the daemon sends its Graph token to that host (and only
// there) instead of graph.microsoft.com.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/bearerhttp/bearer"
	"github.com/bearerhttp/bearer/credential"
	"github.com/bearerhttp/bearer/flow"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "daemon:", err)
		os.Exit(1)
	}
}

// config is what the daemon needs to know.
type config struct {
	tenant, clientID, certPath, certPassword string
	authority, graph, user                   string
	top                                      int
}

func parseFlags(args []string, getenv func(string) string) (config, error) {
	var c config
	fs := flag.NewFlagSet("daemon", flag.ContinueOnError)
	fs.StringVar(&c.tenant, "tenant", getenv("AZURE_TENANT_ID"), "tenant ID or domain (default $AZURE_TENANT_ID)")
	fs.StringVar(&c.clientID, "client-id", getenv("AZURE_CLIENT_ID"), "the app's client ID (default $AZURE_CLIENT_ID)")
	fs.StringVar(&c.certPath, "cert", getenv("AZURE_CLIENT_CERTIFICATE_PATH"), "PEM or PKCS#12 file with the certificate and its private key (default $AZURE_CLIENT_CERTIFICATE_PATH)")
	fs.StringVar(&c.certPassword, "cert-password", getenv("AZURE_CLIENT_CERTIFICATE_PASSWORD"), "the file's password, if any (default $AZURE_CLIENT_CERTIFICATE_PASSWORD)")
	fs.StringVar(&c.authority, "authority", "", "authority URL (default https://login.microsoftonline.com/<tenant>)")
	fs.StringVar(&c.graph, "graph", "https://graph.microsoft.com", "Microsoft Graph's base URL")
	fs.StringVar(&c.user, "user", "", "the user (object ID or user principal name) whose messages to list")
	fs.IntVar(&c.top, "top", 10, "how many messages")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if c.authority == "" {
		if c.tenant == "" {
			return c, errors.New("no tenant: set -tenant or AZURE_TENANT_ID (or -authority)")
		}
		c.authority = "https://login.microsoftonline.com/" + url.PathEscape(c.tenant)
	}
	switch {
	case c.clientID == "":
		return c, errors.New("no client ID: set -client-id or AZURE_CLIENT_ID")
	case c.certPath == "":
		return c, errors.New("no certificate: set -cert or AZURE_CLIENT_CERTIFICATE_PATH")
	case c.user == "":
		return c, errors.New("no user: set -user")
	case c.top < 1 || c.top > 1000:
		return c, fmt.Errorf("-top %d: want 1 to 1000", c.top)
	}
	return c, nil
}

func run(ctx context.Context, args []string, getenv func(string) string, w io.Writer) error {
	c, err := parseFlags(args, getenv)
	if err != nil {
		return err
	}

	// The certificate credential: every token request carries a freshly
	// signed client assertion (PS256, x5t#S256 for Entra).
	data, err := os.ReadFile(c.certPath)
	if err != nil {
		return err
	}
	certs, key, err := credential.ParseCertificates(data, c.certPassword)
	if err != nil {
		return fmt.Errorf("reading %s: %w", c.certPath, err)
	}
	cred, err := credential.Certificate(certs, key)
	if err != nil {
		return err
	}
	app, err := flow.NewConfidential(c.clientID, cred, flow.WithAuthority(c.authority))
	if err != nil {
		return err
	}

	graphURL, err := url.Parse(c.graph)
	if err != nil || graphURL.Host == "" {
		return fmt.Errorf("-graph %q: not an absolute URL", c.graph)
	}
	t := &bearer.Transport{
		Source: app.ClientSource(),
		Scopes: []string{"https://graph.microsoft.com/.default"},
	}
	if graphURL.Hostname() != "graph.microsoft.com" {
		// A Graph stand-in: its host, and no other, receives the token.
		t.AllowedHosts = []string{graphURL.Hostname()}
	}
	client := &http.Client{Transport: t}

	q := url.Values{
		"$top":     {fmt.Sprint(c.top)},
		"$select":  {"subject,receivedDateTime,from"},
		"$orderby": {"receivedDateTime desc"},
	}
	u := graphURL.JoinPath("v1.0", "users", c.user, "messages")
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		return fmt.Errorf("GET %s: %s: %s", u.Path, resp.Status, body)
	}
	var page struct {
		Value []struct {
			Subject          string    `json:"subject"`
			ReceivedDateTime time.Time `json:"receivedDateTime"`
			From             struct {
				EmailAddress struct {
					Name    string `json:"name"`
					Address string `json:"address"`
				} `json:"emailAddress"`
			} `json:"from"`
		} `json:"value"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&page); err != nil {
		return fmt.Errorf("GET %s: %w", u.Path, err)
	}
	fmt.Fprintf(w, "%d newest messages of %s:\n", len(page.Value), c.user)
	for _, m := range page.Value {
		from := m.From.EmailAddress.Name
		if from == "" {
			from = m.From.EmailAddress.Address
		}
		fmt.Fprintf(w, "  %s  %-24s  %s\n", m.ReceivedDateTime.UTC().Format(time.RFC3339), from, m.Subject)
	}
	return nil
}
