package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/bearerhttp/bearer"
)

// maxPretty is the largest JSON body pretty-printed; a bigger one is
// copied as it is.
const maxPretty = 32 << 20

// maxData bounds a request body read from a file or standard input.
const maxData = 256 << 20

func callCommand(name string) *command {
	method := strings.ToUpper(name)
	return &command{
		name:    name,
		args:    "URL",
		nargs:   1,
		summary: fmt.Sprintf("Call an API: %s URL with a token", method),
		details: fmt.Sprintf(`Sends %s URL with the signed-in user's (or the application's) access token,
through bearer.Transport: the token goes to URL's host only (https, or plain http to
this computer), never to a host a redirect leads to; when the API answers 401 with a
claims challenge, a new token with those claims is fetched and the request sent once
more.

--scope defaults to the API's scope for Microsoft Graph and the Azure APIs whose hosts
are known (Resource Manager, Key Vault, Storage, Service Bus, SQL, Cognitive Services
and Azure OpenAI), else https://HOST/.default.

The response body goes to standard output: JSON pretty-printed on a terminal, as it
came when piped. An HTTP error status exits with 4 (4xx) or 5 (5xx) after printing
the body.`, method),
		flags: func(fs *flag.FlagSet, o *options) {
			fs.StringVar(&o.data, "data", "", "the request body: `text`, @file, or @- for standard input (JSON gets Content-Type: application/json)")
			fs.StringVar(&o.data, "d", "", aliasPrefix+"data")
			fs.Var(&o.headers, "header", "a request header `Name: value` (repeatable)")
			fs.Var(&o.headers, "H", aliasPrefix+"header")
		},
		run: func(c *cli, ctx context.Context, o *options, args []string) error {
			return runCall(c, ctx, o, method, args[0])
		},
	}
}

// apiScopes are the Entra scopes of the API hosts whose scope is not
// their own origin's .default: exact hosts, or ".suffix".
var apiScopes = []struct{ host, scope string }{
	{"graph.microsoft.com", "https://graph.microsoft.com/.default"},
	{"management.azure.com", "https://management.azure.com/.default"},
	{".vault.azure.net", "https://vault.azure.net/.default"},
	{".blob.core.windows.net", "https://storage.azure.com/.default"},
	{".queue.core.windows.net", "https://storage.azure.com/.default"},
	{".table.core.windows.net", "https://storage.azure.com/.default"},
	{".file.core.windows.net", "https://storage.azure.com/.default"},
	{".dfs.core.windows.net", "https://storage.azure.com/.default"},
	{".servicebus.windows.net", "https://servicebus.azure.net/.default"},
	{".database.windows.net", "https://database.windows.net/.default"},
	{".cognitiveservices.azure.com", "https://cognitiveservices.azure.com/.default"},
	{".openai.azure.com", "https://cognitiveservices.azure.com/.default"},
}

// defaultScope is the scope of a call to u without --scope.
func defaultScope(u *url.URL) string {
	h := strings.ToLower(u.Hostname())
	for _, a := range apiScopes {
		if h == a.host || (strings.HasPrefix(a.host, ".") && strings.HasSuffix(h, a.host)) {
			return a.scope
		}
	}
	return u.Scheme + "://" + u.Host + "/.default"
}

// checkTarget checks the URL a token is sent to: https, or plain http to
// a loopback host.
func checkTarget(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil {
		return nil, usagef("%q is not an http(s) URL of a host", raw)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return nil, usagef("refusing to send a token over plain http to %s: use https (plain http only to this computer)", u.Host)
		}
	default:
		return nil, usagef("%q is not an http(s) URL", raw)
	}
	return u, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func runCall(c *cli, ctx context.Context, o *options, method, raw string) error {
	u, err := checkTarget(raw)
	if err != nil {
		return err
	}
	body, err := c.requestBody(o.data)
	if err != nil {
		return err
	}
	header := http.Header{}
	for _, h := range o.headers {
		name, value, _ := strings.Cut(h, ":")
		header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	if header.Get("Authorization") != "" {
		return usagef("--header Authorization would replace bearer's token: leave it out")
	}
	scopes := []string(o.scopes)
	if len(scopes) == 0 {
		scopes = []string{defaultScope(u)}
	}
	sess, err := c.open(o, false)
	if err != nil {
		return err
	}
	src, err := sess.source(ctx)
	if err != nil {
		return err
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body) // replayable: a claims challenge resends it
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return usagef("%v", err)
	}
	req.Header = header.Clone()
	if body != nil && req.Header.Get("Content-Type") == "" && json.Valid(body) {
		req.Header.Set("Content-Type", "application/json")
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json, */*;q=0.8")
	}
	req.Header.Set("User-Agent", "bearer/"+buildVersion())
	tr := &bearer.Transport{Source: src, Scopes: scopes, AllowedHosts: []string{allowedHost(u)}}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	start := time.Now()
	c.log.Debug("bearer: request", slog.String("method", method), slog.String("url", redactURL(u)),
		slog.Any("scopes", scopes), slog.Int("body_bytes", len(body)))
	resp, err := client.Do(req)
	if err != nil {
		var ce *bearer.ChallengeError
		if errors.As(err, &ce) {
			return fmt.Errorf("%s %s: the API answered %d with a challenge bearer could not satisfy: %w", method, redactURL(u), ce.StatusCode, ce.Err)
		}
		return fmt.Errorf("%s %s: %w", method, redactURL(u), unwrapURLError(err))
	}
	defer resp.Body.Close()
	c.log.Debug("bearer: response", slog.Int("status", resp.StatusCode), slog.String("content_type", resp.Header.Get("Content-Type")),
		slog.Duration("elapsed", time.Since(start)))
	if err := c.writeBody(resp); err != nil {
		return fmt.Errorf("reading the response: %w", err)
	}
	if resp.StatusCode >= 400 {
		return &statusError{method: method, url: redactURL(u), status: resp.StatusCode, statusText: resp.Status}
	}
	return nil
}

// allowedHost is the transport's AllowedHosts entry for u: its host, on
// its port when the URL names one.
func allowedHost(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	return u.Hostname()
}

// redactURL is u without its query (which may hold a secret, such as a
// SAS signature) for messages and logs.
func redactURL(u *url.URL) string {
	r := *u
	if r.RawQuery != "" {
		r.RawQuery = "…"
	}
	r.Fragment, r.RawFragment = "", ""
	return r.String()
}

// unwrapURLError drops net/http's *url.Error wrapper (which repeats the
// URL, query included).
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// requestBody reads --data: text, @file or @- (standard input).
func (c *cli) requestBody(data string) ([]byte, error) {
	if data == "" {
		return nil, nil
	}
	name, ok := strings.CutPrefix(data, "@")
	if !ok {
		return []byte(data), nil
	}
	var r io.Reader
	if name == "-" {
		r = c.stdin
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("--data: %w", err)
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxData+1))
	if err != nil {
		return nil, fmt.Errorf("--data: %w", err)
	}
	if len(b) > maxData {
		return nil, fmt.Errorf("--data: the body is over %d bytes", maxData)
	}
	return b, nil
}

// writeBody copies the response body to standard output: JSON
// pretty-printed when standard output is a terminal, else as it came.
func (c *cli) writeBody(resp *http.Response) error {
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	isJSON := mt == "application/json" || strings.HasSuffix(mt, "+json")
	if !isJSON || !isTerminal(c.stdout) {
		_, err := io.Copy(c.stdout, resp.Body)
		return err
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxPretty+1))
	if err != nil {
		return err
	}
	var out bytes.Buffer
	if len(b) > maxPretty || json.Indent(&out, b, "", "  ") != nil {
		if _, err := c.stdout.Write(b); err != nil {
			return err
		}
		_, err := io.Copy(c.stdout, resp.Body)
		return err
	}
	out.WriteByte('\n')
	_, err = c.stdout.Write(out.Bytes())
	return err
}
