package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestQuickstart runs the quick start and checks that each step printed
// what it promises: one token request at first, none from the cache, and
// a recovery from the claims challenge.
func TestQuickstart(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	got := out.String()
	for _, want := range []string{
		"=> 2 users: Adele Vance, Alex Wilber",
		"<- 401 Unauthorized",
		`claims challenge: error="insufficient_claims"`,
		"Done: 2 token requests for 3 Graph calls",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, clientSecret) {
		t.Errorf("output shows the client secret:\n%s", got)
	}
	if n := strings.Count(got, "(token request)"); n != 2 {
		t.Errorf("%d token requests printed, want 2:\n%s", n, got)
	}
}
