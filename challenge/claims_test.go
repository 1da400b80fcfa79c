package challenge

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func TestClaims(t *testing.T) {
	const obj = `{"access_token":{"xms_cc":{"values":["cp1"]}},"x":"???>>>~~~"}`
	std := base64.StdEncoding.EncodeToString([]byte(obj))
	url := base64.URLEncoding.EncodeToString([]byte(obj))
	if std == url {
		t.Fatal("test object encodes the same in both alphabets; pick one with + or / in its encoding")
	}
	tests := []struct {
		name   string
		claims string
		want   string
		err    error
	}{
		{"standard alphabet padded", std, obj, nil},
		{"standard alphabet unpadded", strings.TrimRight(std, "="), obj, nil},
		{"URL alphabet padded", url, obj, nil},
		{"URL alphabet unpadded", strings.TrimRight(url, "="), obj, nil},
		{"no padding needed", base64.StdEncoding.EncodeToString([]byte(`{"ab":1}`)), `{"ab":1}`, nil},
		{"empty", "", "", nil},
		{"not base64", "not base64", "", ErrClaims},
		{"padding in the middle", "e30=e30", "", ErrClaims},
		{"mixed alphabets", "ab+c-d", "", ErrClaims},
		{"impossible length", "e30ab", "", ErrClaims},
		{"decodes to a fragment", "ey==", "", ErrClaims},
		{"decodes to a JSON array", base64.StdEncoding.EncodeToString([]byte(`[1]`)), "", ErrClaims},
		{"decodes to a JSON string", base64.StdEncoding.EncodeToString([]byte(`"x"`)), "", ErrClaims},
		{"decodes to null", base64.StdEncoding.EncodeToString([]byte(`null`)), "", ErrClaims},
		{"decodes to two objects", base64.StdEncoding.EncodeToString([]byte(`{}{}`)), "", ErrClaims},
		{"over the limit", strings.Repeat("e30", MaxClaimsBytes/3+1), "", ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Challenge{Scheme: "Bearer", Params: map[string]string{"error": "insufficient_claims", "claims": tt.claims}}
			got, err := c.Claims()
			if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Fatalf("Claims() error = %v, want %v", err, tt.err)
			}
			if got != tt.want {
				t.Errorf("Claims() = %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("no claims parameter", func(t *testing.T) {
		got, err := Challenge{Scheme: "Bearer"}.Claims()
		if got != "" || err != nil {
			t.Errorf("Claims() = %q, %v", got, err)
		}
	})
	t.Run("at the limit", func(t *testing.T) {
		// A JSON object whose base64 is exactly MaxClaimsBytes long.
		raw := `{"a":"` + strings.Repeat("x", MaxClaimsBytes/4*3-8) + `"}`
		enc := base64.StdEncoding.EncodeToString([]byte(raw))
		if len(enc) != MaxClaimsBytes {
			t.Fatalf("encoded length %d", len(enc))
		}
		got, err := Challenge{Params: map[string]string{"claims": enc}}.Claims()
		if err != nil || got != raw {
			t.Fatalf("Claims() at the limit: %v", err)
		}
	})
	t.Run("error says which check failed", func(t *testing.T) {
		_, err := Challenge{Params: map[string]string{"claims": "ey=="}}.Claims()
		if err == nil || !strings.Contains(err.Error(), "not a JSON object") {
			t.Errorf("error %q does not say the JSON check failed", err)
		}
		_, err = Challenge{Params: map[string]string{"claims": "%%%"}}.Claims()
		if err == nil || !strings.Contains(err.Error(), "not base64") {
			t.Errorf("error %q does not say the base64 check failed", err)
		}
	})
}

func TestMerge(t *testing.T) {
	tests := []struct {
		name   string
		claims []string
		want   string
		err    error
	}{
		{"nothing", nil, "", nil},
		{"only empty strings", []string{"", ""}, "", nil},
		{"one object is normalised", []string{` { "b" : 1, "a" : {"c":true} } `}, `{"a":{"c":true},"b":1}`, nil},
		{"empty strings are skipped", []string{"", `{"a":1}`, ""}, `{"a":1}`, nil},
		{"capabilities and a challenge", []string{
			`{"access_token":{"xms_cc":{"values":["cp1"]}}}`,
			`{"access_token":{"nbf":{"essential":true,"value":"1726077595"}}}`,
		}, `{"access_token":{"nbf":{"essential":true,"value":"1726077595"},"xms_cc":{"values":["cp1"]}}}`, nil},
		{"later wins on scalars", []string{`{"a":{"v":1,"w":2}}`, `{"a":{"v":3}}`}, `{"a":{"v":3,"w":2}}`, nil},
		{"later scalar replaces an object", []string{`{"a":{"v":1}}`, `{"a":"x"}`}, `{"a":"x"}`, nil},
		{"later object replaces a scalar", []string{`{"a":"x"}`, `{"a":{"v":1}}`}, `{"a":{"v":1}}`, nil},
		{"arrays are replaced, not merged", []string{`{"a":[1,2]}`, `{"a":[3]}`}, `{"a":[3]}`, nil},
		{"null is a value", []string{`{"a":{"v":1}}`, `{"a":null}`}, `{"a":null}`, nil},
		{"three levels", []string{`{"a":{"b":{"c":1}}}`, `{"a":{"b":{"d":2}}}`, `{"a":{"e":3}}`}, `{"a":{"b":{"c":1,"d":2},"e":3}}`, nil},
		{"numbers kept as written", []string{`{"n":12345678901234567890, "f":1.50}`}, `{"f":1.50,"n":12345678901234567890}`, nil},
		{"no HTML escaping", []string{`{"a":"<&>"}`}, `{"a":"<&>"}`, nil},
		{"not JSON", []string{`{"a":1}`, `{`}, "", ErrClaims},
		{"an array", []string{`[]`}, "", ErrClaims},
		{"null", []string{`null`}, "", ErrClaims},
		{"trailing data", []string{`{"a":1} {"b":2}`}, "", ErrClaims},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Merge(tt.claims...)
			if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Fatalf("Merge error = %v, want %v", err, tt.err)
			}
			if got != tt.want {
				t.Errorf("Merge = %s, want %s", got, tt.want)
			}
		})
	}
	t.Run("error names the argument", func(t *testing.T) {
		_, err := Merge(`{}`, `{}`, `nope`)
		if err == nil || !strings.Contains(err.Error(), "argument 2") {
			t.Errorf("error %q does not name argument 2", err)
		}
	})
	t.Run("inputs are not modified", func(t *testing.T) {
		a := `{"a":{"b":1}}`
		if _, err := Merge(a, `{"a":{"c":2}}`); err != nil {
			t.Fatal(err)
		}
		if got, _ := Merge(a); got != `{"a":{"b":1}}` {
			t.Errorf("first argument now reads %s", got)
		}
	})
}
