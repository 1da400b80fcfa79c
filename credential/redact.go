package credential

import (
	"fmt"
	"io"
	"log/slog"
)

// redacted gives a credential type a fixed description that every fmt
// verb and slog print instead of the value's fields, so a secret, key or
// assertion held in it never reaches a log line or an error message.
type redacted struct{ desc string }

func (r redacted) String() string             { return r.desc }
func (r redacted) GoString() string           { return r.desc }
func (r redacted) LogValue() slog.Value       { return slog.StringValue(r.desc) }
func (r redacted) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, r.desc) }
