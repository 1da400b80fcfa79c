package oauth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/bearerhttp/bearer/internal/redact"
)

// TokenResponse is a successful token response (RFC 6749 section 5.1,
// with Entra's extra fields). Its String, GoString, Format and LogValue
// methods never show a token.
type TokenResponse struct {
	// AccessToken is the access token. Required.
	AccessToken string
	// TokenType is token_type; "Bearer" when the authority sent none.
	TokenType string
	// Scope is the scope field as sent: granted scopes separated by
	// spaces, empty when the authority listed none.
	Scope string
	// RefreshToken, IDToken are the refresh and ID tokens, if any.
	RefreshToken, IDToken string
	// ClientInfo is the decoded client_info (user flows with
	// client_info=1); RawClientInfo is the field as sent.
	ClientInfo    ClientInfo
	RawClientInfo string
	// FamilyID is foci: the family of first-party apps the refresh token
	// is shared with.
	FamilyID string
	// ExpiresIn, ExtExpiresIn and RefreshIn are expires_in,
	// ext_expires_in and refresh_in (numbers or numeric strings); zero
	// when absent.
	ExpiresIn, ExtExpiresIn, RefreshIn time.Duration
	// ExpiresOn is when the access token expires: the time of the
	// response plus expires_in, or zero when the authority sent no
	// expires_in. ExtExpiresOn likewise from ext_expires_in.
	ExpiresOn, ExtExpiresOn time.Time
	// RefreshOn is when a cache should refresh the token in the
	// background: the time of the response plus refresh_in; without
	// refresh_in, half the lifetime when the lifetime is 2 hours or more
	// (DESIGN.md's caching rule, MSAL Python's); else zero.
	RefreshOn time.Time

	// StatusCode is the HTTP status of the response (not a field of its
	// body), set by [Client.Token].
	StatusCode int
}

// ClientInfo is Entra's client_info: the user's object ID and home
// tenant, which make the home account ID "uid.utid".
type ClientInfo struct {
	UID  string `json:"uid"`
	UTID string `json:"utid"`
}

// HomeAccountID returns "uid.utid", or "" when either is missing.
func (c ClientInfo) HomeAccountID() string {
	if c.UID == "" || c.UTID == "" {
		return ""
	}
	return c.UID + "." + c.UTID
}

// Scopes returns the granted scopes, split on spaces; nil when the
// authority listed none.
func (t *TokenResponse) Scopes() []string {
	return strings.Fields(t.Scope)
}

// halfLifeFrom is the lifetime from which a token without refresh_in is
// refreshed at half its life.
const halfLifeFrom = 2 * time.Hour

// maxLifetime caps expires_in and its kin: a bigger value is malformed.
const maxLifetime = 100 * 365 * 24 * time.Hour

// tokenJSON is the wire form of a token response.
type tokenJSON struct {
	AccessToken  *string  `json:"access_token"`
	TokenType    *string  `json:"token_type"`
	Scope        *string  `json:"scope"`
	RefreshToken *string  `json:"refresh_token"`
	IDToken      *string  `json:"id_token"`
	ClientInfo   *string  `json:"client_info"`
	FOCI         *flexStr `json:"foci"`
	ExpiresIn    *seconds `json:"expires_in"`
	ExtExpiresIn *seconds `json:"ext_expires_in"`
	RefreshIn    *seconds `json:"refresh_in"`
	Error        *string  `json:"error"`
}

// ParseTokenResponse reads a successful token response received at now.
// It fails, with an error wrapping [ErrMalformedResponse] that never shows
// the body, when the body is not a JSON object, has no access_token, has
// a field of the wrong type, or a client_info that does not decode. A
// body with an error field and no access token gives a [*ResponseError].
func ParseTokenResponse(body []byte, now time.Time) (*TokenResponse, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, fmt.Errorf("%w: token response is not a JSON object", ErrMalformedResponse)
	}
	var w tokenJSON
	if err := json.Unmarshal(trimmed, &w); err != nil {
		return nil, fmt.Errorf("%w: token response: %s", ErrMalformedResponse, jsonProblem(err))
	}
	if w.AccessToken == nil || *w.AccessToken == "" {
		if w.Error != nil && *w.Error != "" {
			return nil, ParseErrorResponse(200, nil, trimmed)
		}
		return nil, fmt.Errorf("%w: token response has no access_token", ErrMalformedResponse)
	}
	t := &TokenResponse{
		AccessToken:  *w.AccessToken,
		TokenType:    deref(w.TokenType),
		Scope:        deref(w.Scope),
		RefreshToken: deref(w.RefreshToken),
		IDToken:      deref(w.IDToken),
	}
	if t.TokenType == "" {
		t.TokenType = "Bearer"
	}
	if w.FOCI != nil {
		t.FamilyID = string(*w.FOCI)
	}
	if w.ClientInfo != nil && *w.ClientInfo != "" {
		ci, err := DecodeClientInfo(*w.ClientInfo)
		if err != nil {
			return nil, err
		}
		t.ClientInfo, t.RawClientInfo = ci, *w.ClientInfo
	}
	if w.ExpiresIn != nil {
		t.ExpiresIn = time.Duration(*w.ExpiresIn)
		t.ExpiresOn = now.Add(t.ExpiresIn)
	}
	if w.ExtExpiresIn != nil {
		t.ExtExpiresIn = time.Duration(*w.ExtExpiresIn)
		t.ExtExpiresOn = now.Add(t.ExtExpiresIn)
	}
	if w.RefreshIn != nil {
		t.RefreshIn = time.Duration(*w.RefreshIn)
	}
	switch {
	case t.RefreshIn > 0:
		t.RefreshOn = now.Add(t.RefreshIn)
	case t.ExpiresIn >= halfLifeFrom:
		t.RefreshOn = now.Add(t.ExpiresIn / 2)
	}
	return t, nil
}

// DecodeClientInfo decodes a client_info value: base64 (URL or standard
// alphabet, padding optional) of a JSON object with uid and utid.
func DecodeClientInfo(s string) (ClientInfo, error) {
	raw := strings.TrimRight(s, "=")
	enc := base64.RawURLEncoding
	if strings.ContainsAny(raw, "+/") {
		enc = base64.RawStdEncoding
	}
	b, err := enc.DecodeString(raw)
	if err != nil {
		return ClientInfo{}, fmt.Errorf("%w: client_info is not base64", ErrMalformedResponse)
	}
	var ci ClientInfo
	if t := bytes.TrimSpace(b); len(t) == 0 || t[0] != '{' || json.Unmarshal(t, &ci) != nil {
		return ClientInfo{}, fmt.Errorf("%w: client_info is not a JSON object with string uid and utid", ErrMalformedResponse)
	}
	return ci, nil
}

// jsonProblem describes a JSON error without quoting the input.
func jsonProblem(err error) string {
	switch e := err.(type) {
	case *json.SyntaxError:
		return "invalid JSON at offset " + strconv.FormatInt(e.Offset, 10)
	case *json.UnmarshalTypeError:
		return "field " + strconv.Quote(e.Field) + " has the wrong type (" + e.Value + ")"
	}
	if msg := err.Error(); strings.HasPrefix(msg, "oauth: ") {
		return strings.TrimPrefix(msg, "oauth: ") // our own field decoders' errors hold no input
	}
	return "invalid JSON"
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// seconds is a lifetime in seconds sent as a JSON number or a numeric
// string, as Entra (numbers) and ADFS or IMDS (strings) do.
type seconds time.Duration

func (s *seconds) UnmarshalJSON(b []byte) error {
	v := string(bytes.TrimSpace(b))
	if v == "null" {
		return nil
	}
	if strings.HasPrefix(v, `"`) {
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return err
		}
		v = strings.TrimSpace(str)
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > maxLifetime.Seconds() {
		return fmt.Errorf("oauth: a lifetime is not a number of seconds between 0 and %d", int64(maxLifetime.Seconds()))
	}
	*s = seconds(time.Duration(f) * time.Second)
	return nil
}

// flexStr is a string sent as a JSON string or number (foci is "1").
type flexStr string

func (f *flexStr) UnmarshalJSON(b []byte) error {
	v := bytes.TrimSpace(b)
	if string(v) == "null" {
		return nil
	}
	if len(v) > 0 && v[0] == '"' {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return err
		}
		*f = flexStr(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(v, &n); err != nil {
		return fmt.Errorf("oauth: foci is neither a string nor a number")
	}
	*f = flexStr(n.String())
	return nil
}

// redactedToken has TokenResponse's fields with the secrets hidden.
type redactedToken struct {
	AccessToken, TokenType, Scope, RefreshToken, IDToken string
	ClientInfo                                           ClientInfo
	FamilyID                                             string
	ExpiresIn, ExtExpiresIn, RefreshIn                   time.Duration
	ExpiresOn, ExtExpiresOn, RefreshOn                   time.Time
}

func hide(s string) string {
	if s == "" {
		return ""
	}
	return "REDACTED"
}

func (t TokenResponse) redacted() redactedToken {
	return redactedToken{
		AccessToken: hide(t.AccessToken), TokenType: t.TokenType, Scope: t.Scope,
		RefreshToken: hide(t.RefreshToken), IDToken: hide(t.IDToken),
		ClientInfo: t.ClientInfo, FamilyID: t.FamilyID,
		ExpiresIn: t.ExpiresIn, ExtExpiresIn: t.ExtExpiresIn, RefreshIn: t.RefreshIn,
		ExpiresOn: t.ExpiresOn, ExtExpiresOn: t.ExtExpiresOn, RefreshOn: t.RefreshOn,
	}
}

// String returns t's fields with the tokens redacted.
func (t TokenResponse) String() string { return redact.String(t.redacted()) }

// GoString is String, for %#v.
func (t TokenResponse) GoString() string { return redact.GoString("oauth.TokenResponse", t.redacted()) }

// Format prints t with the tokens redacted, for every verb.
func (t TokenResponse) Format(f fmt.State, verb rune) {
	redact.Format(f, verb, "oauth.TokenResponse", t.redacted())
}

// LogValue presents t to log/slog without its tokens.
func (t TokenResponse) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("token_type", t.TokenType),
		slog.String("scope", t.Scope),
		slog.Bool("refresh_token", t.RefreshToken != ""),
		slog.Bool("id_token", t.IDToken != ""),
		slog.Time("expires_on", t.ExpiresOn),
		slog.Time("refresh_on", t.RefreshOn),
	)
}
