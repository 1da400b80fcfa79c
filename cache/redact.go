package cache

import (
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// The entry types print and log without their secrets: String, GoString,
// Format (every fmt verb) and LogValue show what identifies an entry and
// never a token, and show no personal data (home account IDs, usernames,
// names, assertion hashes) either.

const redacted = "[redacted]"

// attrs is an ordered list of the fields an entry shows.
type attrs []slog.Attr

func (a attrs) text(typ string) string {
	var b strings.Builder
	b.WriteString(typ)
	b.WriteByte('{')
	for i, at := range a {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(at.Key)
		b.WriteByte('=')
		v := at.Value.String()
		if v == "" || strings.ContainsAny(v, " \"") {
			v = strconv.Quote(v)
		}
		b.WriteString(v)
	}
	b.WriteByte('}')
	return b.String()
}

func formatRedacted(f fmt.State, verb rune, s string) {
	if verb == 'q' {
		fmt.Fprintf(f, "%q", s)
		return
	}
	io.WriteString(f, s)
}

func timeAttr(key string, t time.Time) slog.Attr {
	if t.IsZero() {
		return slog.String(key, "")
	}
	return slog.String(key, t.UTC().Format(time.RFC3339))
}

// secretAttr shows whether secret s is set, never s.
func secretAttr(key, s string) slog.Attr {
	if s == "" {
		return slog.String(key, "")
	}
	return slog.String(key, redacted)
}

func (t AccessToken) attrs() attrs {
	return attrs{
		slog.String("credential_type", t.CredentialType),
		slog.String("environment", t.Environment),
		slog.String("realm", t.Realm),
		slog.String("client_id", t.ClientID),
		slog.String("target", t.Target),
		slog.String("token_type", t.TokenType),
		timeAttr("expires_on", t.ExpiresOn),
		secretAttr("secret", t.Secret),
	}
}

// String describes the token without its secret.
func (t AccessToken) String() string { return t.attrs().text("cache.AccessToken") }

// GoString is String: %#v never shows the secret.
func (t AccessToken) GoString() string { return t.String() }

// Format writes String for every verb.
func (t AccessToken) Format(f fmt.State, verb rune) { formatRedacted(f, verb, t.String()) }

// LogValue logs the token without its secret.
func (t AccessToken) LogValue() slog.Value { return slog.GroupValue(t.attrs()...) }

func (t RefreshToken) attrs() attrs {
	return attrs{
		slog.String("environment", t.Environment),
		slog.String("client_id", t.ClientID),
		slog.String("family_id", t.FamilyID),
		secretAttr("secret", t.Secret),
	}
}

// String describes the token without its secret.
func (t RefreshToken) String() string { return t.attrs().text("cache.RefreshToken") }

// GoString is String: %#v never shows the secret.
func (t RefreshToken) GoString() string { return t.String() }

// Format writes String for every verb.
func (t RefreshToken) Format(f fmt.State, verb rune) { formatRedacted(f, verb, t.String()) }

// LogValue logs the token without its secret.
func (t RefreshToken) LogValue() slog.Value { return slog.GroupValue(t.attrs()...) }

func (t IDToken) attrs() attrs {
	return attrs{
		slog.String("environment", t.Environment),
		slog.String("realm", t.Realm),
		slog.String("client_id", t.ClientID),
		secretAttr("secret", t.Secret),
	}
}

// String describes the token without its secret.
func (t IDToken) String() string { return t.attrs().text("cache.IDToken") }

// GoString is String: %#v never shows the secret.
func (t IDToken) GoString() string { return t.String() }

// Format writes String for every verb.
func (t IDToken) Format(f fmt.State, verb rune) { formatRedacted(f, verb, t.String()) }

// LogValue logs the token without its secret.
func (t IDToken) LogValue() slog.Value { return slog.GroupValue(t.attrs()...) }

func (a Account) attrs() attrs {
	return attrs{
		slog.String("environment", a.Environment),
		slog.String("realm", a.Realm),
		slog.String("authority_type", a.AuthorityType),
	}
}

// String describes the account without personal data.
func (a Account) String() string { return a.attrs().text("cache.Account") }

// GoString is String.
func (a Account) GoString() string { return a.String() }

// Format writes String for every verb.
func (a Account) Format(f fmt.State, verb rune) { formatRedacted(f, verb, a.String()) }

// LogValue logs the account without personal data.
func (a Account) LogValue() slog.Value { return slog.GroupValue(a.attrs()...) }

func (r Response) attrs() attrs {
	return attrs{
		slog.String("environment", r.Environment),
		slog.String("realm", r.Realm),
		slog.String("client_id", r.ClientID),
		slog.String("scopes", strings.Join(r.Scopes, " ")),
		slog.String("token_type", r.TokenType),
		timeAttr("expires_on", r.ExpiresOn),
		secretAttr("access_token", r.AccessToken),
		secretAttr("refresh_token", r.RefreshToken),
		secretAttr("id_token", r.IDToken),
	}
}

// String describes the response without its tokens.
func (r Response) String() string { return r.attrs().text("cache.Response") }

// GoString is String: %#v never shows the tokens.
func (r Response) GoString() string { return r.String() }

// Format writes String for every verb.
func (r Response) Format(f fmt.State, verb rune) { formatRedacted(f, verb, r.String()) }

// LogValue logs the response without its tokens.
func (r Response) LogValue() slog.Value { return slog.GroupValue(r.attrs()...) }
