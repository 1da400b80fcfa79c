package flow

import (
	"errors"
	"testing"

	"github.com/bearerhttp/bearer/challenge"
)

func TestCapabilitiesClaims(t *testing.T) {
	tests := []struct {
		caps []string
		want string
	}{
		{nil, ""},
		{[]string{"cp1"}, `{"access_token":{"xms_cc":{"values":["cp1"]}}}`},
		{[]string{"cp1", "llt"}, `{"access_token":{"xms_cc":{"values":["cp1","llt"]}}}`},
		{[]string{`c"p<1>`}, `{"access_token":{"xms_cc":{"values":["c\"p\u003c1\u003e"]}}}`},
	}
	for _, tt := range tests {
		got, err := capabilitiesClaims(tt.caps)
		if err != nil || got != tt.want {
			t.Errorf("capabilitiesClaims(%q) = %q, %v; want %q", tt.caps, got, err, tt.want)
		}
	}
	for _, bad := range [][]string{{""}, {"cp 1"}, {"cp1\n"}} {
		if _, err := capabilitiesClaims(bad); !errors.Is(err, ErrInvalidOption) {
			t.Errorf("capabilitiesClaims(%q): %v, want ErrInvalidOption", bad, err)
		}
	}
}

func TestMergeClaims(t *testing.T) {
	caps := `{"access_token":{"xms_cc":{"values":["cp1"]}}}`
	tests := []struct {
		name, caps, claims, want string
	}{
		{"nothing", "", "", ""},
		{"capabilities_only", caps, "", caps},
		{"claims_only", "", `{"id_token":{"acr":{"essential":true}}}`, `{"id_token":{"acr":{"essential":true}}}`},
		{"deep_merge", caps, `{"access_token":{"nbf":{"essential":true,"value":"1"}}}`,
			`{"access_token":{"nbf":{"essential":true,"value":"1"},"xms_cc":{"values":["cp1"]}}}`},
		{"challenge_wins_a_conflict", caps, `{"access_token":{"xms_cc":{"values":["cp2"]}}}`, `{"access_token":{"xms_cc":{"values":["cp2"]}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mergeClaims(tt.caps, tt.claims)
			if err != nil || got != tt.want {
				t.Errorf("mergeClaims = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if _, err := mergeClaims(caps, `"x"`); !errors.Is(err, challenge.ErrClaims) || !errors.Is(err, ErrInvalidOption) {
		t.Errorf("claims that are not an object: %v", err)
	}
}
