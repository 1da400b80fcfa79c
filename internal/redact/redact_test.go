package redact

import (
	"fmt"
	"testing"
)

// plain is a redacted copy, as a type's redacted method returns it.
type plain struct {
	Token string
	N     int
}

// secretful prints through this package, as the library's types do.
type secretful struct{ token string }

func (s secretful) redacted() plain            { return plain{Token: "REDACTED", N: len(s.token)} }
func (s secretful) String() string             { return String(s.redacted()) }
func (s secretful) GoString() string           { return GoString("pkg.T", s.redacted()) }
func (s secretful) Format(f fmt.State, v rune) { Format(f, v, "pkg.T", s.redacted()) }

func TestEveryVerbPrintsTheRedactedCopy(t *testing.T) {
	v := secretful{token: "s3cr3t"}
	for _, tc := range []struct{ format, want string }{
		{"%v", "{REDACTED 6}"},
		{"%+v", "{Token:REDACTED N:6}"},
		{"%#v", "pkg.T{Token:REDACTED N:6}"},
		{"%s", "{REDACTED %!s(int=6)}"},
		{"%q", `{"REDACTED" '\x06'}`},
		{"%x", "{5245444143544544 6}"},
		{"%10v", "{  REDACTED          6}"},
	} {
		if got := fmt.Sprintf(tc.format, v); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.format, got, tc.want)
		}
	}
	if got := v.String(); got != "{Token:REDACTED N:6}" {
		t.Errorf("String: %q", got)
	}
	if got := fmt.Sprint(v) + v.GoString(); got != "{REDACTED 6}pkg.T{Token:REDACTED N:6}" {
		t.Errorf("Sprint and GoString: %q", got)
	}
}
