package challenge

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// seedValues are the fixture lines plus the table inputs that probe the
// lenient paths.
func seedValues(tb testing.TB) []string {
	var out []string
	for _, f := range readFixtures(tb) {
		out = append(out, f.value)
	}
	return append(out,
		`Bearer authorization_uri=https://login.microsoftonline.com/{tenant}/oauth2/authorize resource_id=https://storage.azure.com`,
		`Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple"`,
		`Basic dXNl/cjpw+YXNz==, Bearer realm="x"`,
		` , ,Bearer realm="a" ,, , error="invalid_token",,  Basic`,
		`Bearer realm="x\`,
		"Bearer realm=\"caf\xc3\xa9\"\t ",
	)
}

// FuzzParse checks that Parse never panics and that what it returns is
// well formed: schemes and parameter names are tokens, names are
// lower-case, and every challenge formats and parses back to itself.
func FuzzParse(f *testing.F) {
	for _, v := range seedValues(f) {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v string) {
		cs, err := Parse(v)
		if err != nil {
			if cs != nil {
				t.Fatalf("challenges %v returned with error %v", cs, err)
			}
			if !errors.Is(err, ErrSyntax) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("unexpected error %v", err)
			}
			if errors.Is(err, ErrTooLarge) != (len(v) > MaxHeaderBytes) {
				t.Fatalf("ErrTooLarge for %d bytes", len(v))
			}
			return
		}
		if len(cs) == 0 {
			t.Fatal("no challenge and no error")
		}
		for _, c := range cs {
			if !isToken(c.Scheme) {
				t.Fatalf("scheme %q is not a token", c.Scheme)
			}
			if c.Token68 != "" && len(c.Params) > 0 {
				t.Fatalf("challenge %#v has both token68 and parameters", c)
			}
			for n := range c.Params {
				if !isToken(n) || n != strings.ToLower(n) {
					t.Fatalf("parameter name %q", n)
				}
			}
			// Every classifier and the claims decoder accept anything Parse gives.
			_ = kindOf(c)
			if claims, err := c.Claims(); err == nil && claims != "" && !json.Valid([]byte(claims)) {
				t.Fatalf("Claims() = %q without error, not JSON", claims)
			}
			back, err := Parse(c.String())
			if len(c.String()) <= MaxHeaderBytes && (err != nil || len(back) != 1 || !reflect.DeepEqual(back[0], c)) {
				t.Fatalf("round trip of %#v through %q gave %#v, %v", c, c.String(), back, err)
			}
		}
	})
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTchar(s[i]) {
			return false
		}
	}
	return true
}

// FuzzClaims checks that Claims never panics and returns only JSON
// objects.
func FuzzClaims(f *testing.F) {
	for _, v := range seedValues(f) {
		if cs, err := Parse(v); err == nil {
			for _, c := range cs {
				f.Add(c.Params["claims"])
			}
		}
	}
	f.Add("e30")
	f.Add("eyJhIjoxfQ==")
	f.Add("eyJhIjoxfQ-_")
	f.Fuzz(func(t *testing.T, claims string) {
		got, err := Challenge{Scheme: "Bearer", Params: map[string]string{"claims": claims}}.Claims()
		if err != nil {
			if got != "" {
				t.Fatalf("Claims() = %q with error %v", got, err)
			}
			if !errors.Is(err, ErrClaims) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if claims == "" {
			if got != "" {
				t.Fatalf("Claims() of empty = %q", got)
			}
			return
		}
		if err := checkObject([]byte(got)); err != nil {
			t.Fatalf("Claims() = %q: %v", got, err)
		}
	})
}

// FuzzMerge checks that Merge never panics, returns a JSON object, and
// that its output is a fixed point.
func FuzzMerge(f *testing.F) {
	for _, v := range seedValues(f) {
		if cs, err := Parse(v); err == nil {
			for _, c := range cs {
				if claims, err := c.Claims(); err == nil && claims != "" {
					f.Add(claims, `{"access_token":{"xms_cc":{"values":["cp1"]}}}`)
				}
			}
		}
	}
	f.Add(`{"a":{"b":1}}`, `{"a":2}`)
	f.Add(`{"a":1}`, `[1]`)
	f.Add(``, `{"n":1.50}`)
	f.Fuzz(func(t *testing.T, a, b string) {
		got, err := Merge(a, b)
		if err != nil {
			if !errors.Is(err, ErrClaims) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if got == "" {
			if a != "" || b != "" {
				t.Fatalf("Merge(%q, %q) = \"\"", a, b)
			}
			return
		}
		if err := checkObject([]byte(got)); err != nil {
			t.Fatalf("Merge = %q: %v", got, err)
		}
		again, err := Merge(got)
		if err != nil || again != got {
			t.Fatalf("Merge(Merge) = %q, %v; want %q", again, err, got)
		}
	})
}
