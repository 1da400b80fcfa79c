package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestDemo runs the demonstration and checks each step's answer: two
// users served through one transport, a cached token for the repeat call,
// and the refusals.
func TestDemo(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), nil, func(string) string { return "" }, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	got := out.String()
	for _, want := range []string{
		`<- 200 OK {"displayName":"Alice Smith","userPrincipalName":"alice@contoso.onmicrosoft.com","via":"on-behalf-of"}`,
		`<- 200 OK {"displayName":"Bob Jones","userPrincipalName":"bob@contoso.onmicrosoft.com","via":"on-behalf-of"}`,
		"WWW-Authenticate: Bearer realm=\"\"\n",
		`error="invalid_token", error_description="the token's audience (aud) is not this API"`,
		"Done: 2 on-behalf-of token requests for 3 accepted calls by 2 users.",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "obo-demo-not-a-real-secret") {
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
		{"no_client_id", []string{"-authority", "https://login.microsoftonline.com/t"}, nil, "no client ID"},
		{"no_secret", []string{"-authority", "https://login.microsoftonline.com/t", "-client-id", "c"}, nil, "no client secret"},
		{"no_audience", []string{"-authority", "https://login.microsoftonline.com/t", "-client-id", "c"}, map[string]string{"AZURE_CLIENT_SECRET": "s"}, "no audience"},
		{"bad_authority", []string{"-authority", "ftp://x", "-client-id", "c", "-audience", "api://a"}, map[string]string{"AZURE_CLIENT_SECRET": "s"}, "authority"},
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
