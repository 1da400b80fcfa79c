package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/bearerhttp/bearer/internal/redistest"
)

// TestDemo runs the demonstration against a Redis of the test's and
// checks each step: the second replica reads Alice's token from Redis,
// two replicas missing Bob's together make one request, and a new
// replica asks the authority for nothing but its signing keys.
func TestDemo(t *testing.T) {
	rs := redistest.Start(t)
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-redis", rs.Addr}, func(string) string { return "" }, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	got := out.String()
	for _, want := range []string{
		`{"replica":"replica-1","userPrincipalName":"alice@contoso.onmicrosoft.com"} (on-behalf-of requests: 1)`,
		`{"replica":"replica-2","userPrincipalName":"alice@contoso.onmicrosoft.com"} (on-behalf-of requests: 0)`,
		`{"replica":"replica-1","userPrincipalName":"bob@contoso.onmicrosoft.com"}`,
		`{"replica":"replica-2","userPrincipalName":"bob@contoso.onmicrosoft.com"}`,
		"   (on-behalf-of requests: 1)\n4.",
		`{"replica":"replica-3","userPrincipalName":"alice@contoso.onmicrosoft.com"} (on-behalf-of requests: 0)`,
		"(requests to the authority: keys)",
		"Done: 2 on-behalf-of token requests for 5 calls by 2 users on 3 replicas sharing Redis.",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "sharedcache-demo-not-a-real-secret") {
		t.Error("output shows the API's secret")
	}
}

func TestFlagErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no_redis", []string{"-authority", "https://login.microsoftonline.com/t"}, nil, "no Redis"},
		{"no_client_id", []string{"-authority", "https://login.microsoftonline.com/t", "-redis", "127.0.0.1:1"}, nil, "no client ID"},
		{"no_secret", []string{"-authority", "https://login.microsoftonline.com/t", "-redis", "127.0.0.1:1", "-client-id", "c"}, nil, "no client secret"},
		{"no_audience", []string{"-authority", "https://login.microsoftonline.com/t", "-client-id", "c"}, map[string]string{"AZURE_CLIENT_SECRET": "s", "REDIS_ADDR": "127.0.0.1:1"}, "no audience"},
		{"bad_authority", []string{"-authority", "ftp://x", "-client-id", "c", "-audience", "api://a", "-redis", "127.0.0.1:1"}, map[string]string{"AZURE_CLIENT_SECRET": "s"}, "authority"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), tt.args, func(k string) string { return tt.env[k] }, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}
