package challenge

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Limits on outside input.
const (
	// MaxHeaderBytes is the longest WWW-Authenticate value [Parse] reads.
	MaxHeaderBytes = 16 << 10
	// MaxClaimsBytes is the longest claims parameter [Challenge.Claims]
	// decodes.
	MaxClaimsBytes = 8 << 10
)

var (
	// ErrTooLarge is wrapped by the error for a header value over
	// [MaxHeaderBytes] or a claims parameter over [MaxClaimsBytes].
	ErrTooLarge = errors.New("challenge: input too large")
	// ErrSyntax is wrapped by the error [Parse] returns when it could read
	// no challenge at all.
	ErrSyntax = errors.New("challenge: no challenge could be read")
)

// Parse reads the challenges of one WWW-Authenticate header value.
//
// It returns every challenge it could read, in order. It returns an error
// (and no challenge) only when the value is longer than [MaxHeaderBytes]
// (the error wraps [ErrTooLarge]) or when no challenge could be read (the
// error wraps [ErrSyntax]).
//
// The grammar is RFC 9110's, read leniently:
//   - a parameter value may be a quoted string (backslash escapes allowed)
//     or a bare run of any characters but space, tab, comma and '"', so
//     unquoted URLs such as authorization_uri=https://host/path are read
//     whole;
//   - parameters may be separated by whitespace instead of a comma, as
//     Azure Storage sends them;
//   - scheme and parameter names are case-insensitive: parameter names are
//     lower-cased, the scheme is kept as written; when a name repeats, the
//     first value wins;
//   - empty list elements and surrounding whitespace are ignored.
//
// A challenge that breaks the grammar in any other way (a stray word, an
// unterminated quoted string, a parameter without '=') is malformed: it is
// left out, the reader skips to the next list element that starts a
// challenge, and the challenges after it are read as usual.
func Parse(headerValue string) ([]Challenge, error) {
	if len(headerValue) > MaxHeaderBytes {
		return nil, fmt.Errorf("%w: WWW-Authenticate value of %d bytes exceeds the limit of %d bytes",
			ErrTooLarge, len(headerValue), MaxHeaderBytes)
	}
	p := parser{s: headerValue}
	cs := p.parse()
	if len(cs) == 0 {
		return nil, fmt.Errorf("%w from a WWW-Authenticate value of %d bytes", ErrSyntax, len(headerValue))
	}
	return cs, nil
}

// FromResponse returns the challenges of every WWW-Authenticate header
// line of resp, in order. A line that [Parse] rejects (too long, or with
// no readable challenge) contributes nothing. It returns nil for a nil
// response or one without challenges.
func FromResponse(resp *http.Response) []Challenge {
	if resp == nil {
		return nil
	}
	var out []Challenge
	for _, v := range resp.Header.Values("Www-Authenticate") {
		cs, err := Parse(v)
		if err != nil {
			continue
		}
		out = append(out, cs...)
	}
	return out
}

// parser reads one header value; i is the index of the next byte.
type parser struct {
	s string
	i int
}

func (p *parser) eof() bool { return p.i >= len(p.s) }

func (p *parser) peek() byte {
	if p.i >= len(p.s) {
		return 0
	}
	return p.s[p.i]
}

// parse reads list elements. Each element either starts a challenge
// (`scheme [SP ( token68 / params )]`) or is one more parameter of the
// current challenge (`name BWS "=" ...`).
func (p *parser) parse() []Challenge {
	var (
		out  []Challenge
		cur  Challenge
		have bool // cur is a challenge being read
		bad  bool // cur is malformed: skip its remaining elements
	)
	flush := func() {
		if have && !bad {
			out = append(out, cur)
		}
		cur, have, bad = Challenge{}, false, false
	}
	for {
		p.skipSeparators()
		if p.eof() {
			break
		}
		start := p.i
		name := p.token()
		if name == "" {
			// Neither a scheme nor a parameter name.
			bad = true
			p.skipElement()
			continue
		}
		if p.atEquals() {
			// A parameter element after a comma.
			if !have || bad {
				p.skipElement()
				continue
			}
			if cur.Token68 != "" {
				// A token68 challenge has no parameters.
				bad = true
				p.skipElement()
				continue
			}
			p.i = start
			if !p.params(&cur) {
				bad = true
				p.skipElement()
			}
			continue
		}
		flush()
		have = true
		cur.Scheme = name
		if !p.afterScheme(&cur) {
			bad = true
			p.skipElement()
		}
	}
	flush()
	return out
}

// afterScheme reads what follows a scheme: nothing, a token68, or
// parameters.
func (p *parser) afterScheme(c *Challenge) bool {
	if p.eof() || p.peek() == ',' {
		return true
	}
	if !p.skipWS() {
		return false // the scheme runs into something that is not a token character
	}
	if p.eof() || p.peek() == ',' {
		return true
	}
	if n := token68Len(p.s[p.i:]); n > 0 {
		j := p.i + n
		for j < len(p.s) && isWS(p.s[j]) {
			j++
		}
		if j == len(p.s) || p.s[j] == ',' {
			c.Token68 = p.s[p.i : p.i+n]
			p.i = j
			return true
		}
	}
	return p.params(c)
}

// params reads `name BWS "=" BWS value` parameters separated by
// whitespace, up to a comma or the end of the value. It reports false on a
// malformed parameter.
func (p *parser) params(c *Challenge) bool {
	for {
		name := p.token()
		if name == "" {
			return false
		}
		p.skipWS()
		if p.peek() != '=' {
			return false
		}
		p.i++
		p.skipWS()
		v, ok := p.value()
		if !ok {
			return false
		}
		if c.Params == nil {
			c.Params = make(map[string]string, 4)
		}
		name = strings.ToLower(name)
		if _, dup := c.Params[name]; !dup {
			c.Params[name] = v
		}
		sep := p.skipWS()
		if p.eof() || p.peek() == ',' {
			return true
		}
		// No comma: only whitespace and another parameter may follow.
		if !sep || !p.paramAhead() {
			return false
		}
	}
}

// paramAhead reports whether the input at p.i is `token BWS "="`.
func (p *parser) paramAhead() bool {
	save := p.i
	defer func() { p.i = save }()
	return p.token() != "" && p.atEquals()
}

// atEquals reports whether BWS "=" follows; it consumes nothing.
func (p *parser) atEquals() bool {
	j := p.i
	for j < len(p.s) && isWS(p.s[j]) {
		j++
	}
	return j < len(p.s) && p.s[j] == '='
}

// value reads a quoted string or a bare value.
func (p *parser) value() (string, bool) {
	if p.peek() == '"' {
		return p.quoted()
	}
	start := p.i
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', ',':
			return p.s[start:p.i], true
		case '"':
			return "", false
		}
		p.i++
	}
	return p.s[start:p.i], true
}

// quoted reads a quoted-string starting at the opening quote.
func (p *parser) quoted() (string, bool) {
	p.i++ // opening quote
	start := p.i
	var b *strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch c {
		case '"':
			p.i++
			if b == nil {
				return p.s[start : p.i-1], true
			}
			return b.String(), true
		case '\\':
			if p.i+1 >= len(p.s) {
				p.i = len(p.s)
				return "", false
			}
			if b == nil {
				b = new(strings.Builder)
				b.WriteString(p.s[start:p.i])
			}
			b.WriteByte(p.s[p.i+1])
			p.i += 2
		default:
			if b != nil {
				b.WriteByte(c)
			}
			p.i++
		}
	}
	return "", false // unterminated
}

// token reads a run of tchar (RFC 9110 §5.6.2).
func (p *parser) token() string {
	start := p.i
	for p.i < len(p.s) && isTchar(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i]
}

// skipWS skips spaces and tabs and reports whether there were any.
func (p *parser) skipWS() bool {
	start := p.i
	for p.i < len(p.s) && isWS(p.s[p.i]) {
		p.i++
	}
	return p.i > start
}

// skipSeparators skips whitespace and commas (empty list elements).
func (p *parser) skipSeparators() {
	for p.i < len(p.s) && (isWS(p.s[p.i]) || p.s[p.i] == ',') {
		p.i++
	}
}

// skipElement moves to the next comma outside a quoted string, or to the
// end.
func (p *parser) skipElement() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ',':
			return
		case '"':
			if _, ok := p.quoted(); !ok {
				return // unterminated: quoted consumed the rest
			}
			continue
		}
		p.i++
	}
}

// token68Len returns the length of the token68 at the start of s:
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func token68Len(s string) int {
	n := 0
	for n < len(s) && isToken68(s[n]) {
		n++
	}
	if n == 0 {
		return 0
	}
	for n < len(s) && s[n] == '=' {
		n++
	}
	return n
}

func isWS(c byte) bool { return c == ' ' || c == '\t' }

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func isTchar(c byte) bool {
	if isAlnum(c) {
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

func isToken68(c byte) bool {
	if isAlnum(c) {
		return true
	}
	switch c {
	case '-', '.', '_', '~', '+', '/':
		return true
	}
	return false
}
