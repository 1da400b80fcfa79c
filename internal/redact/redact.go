// Package redact prints values whose secrets have been taken out: the
// String, GoString and Format methods of the types that carry tokens,
// codes or verifiers (flow.Result, flow.AuthCodeFlow, the token and device
// authorization responses) print a redacted copy of themselves through it,
// so that every verb and flag of fmt prints that copy and nothing else.
package redact

import "fmt"

// String returns redacted's %+v: its fields with their names.
func String(redacted any) string { return fmt.Sprintf("%+v", redacted) }

// GoString returns typeName followed by String(redacted), for %#v.
func GoString(typeName string, redacted any) string { return typeName + String(redacted) }

// Format writes redacted as fmt writes a value for verb and f's flags,
// except %#v, which writes GoString(typeName, redacted).
func Format(f fmt.State, verb rune, typeName string, redacted any) {
	if verb == 'v' && f.Flag('#') {
		fmt.Fprint(f, GoString(typeName, redacted))
		return
	}
	fmt.Fprintf(f, fmt.FormatString(f, verb), redacted)
}
