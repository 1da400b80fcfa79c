package challenge

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrClaims is wrapped by the error for claims that are not base64-encoded
// JSON objects ([Challenge.Claims]) or not JSON objects ([Merge]).
var ErrClaims = errors.New("challenge: bad claims")

// Claims returns the decoded claims parameter of c: the JSON claims
// request (OpenID Connect Core §5.5) the resource asks the client to add
// to its next token request.
//
// The parameter is base64, in the standard or the URL alphabet, with or
// without padding, as services send both. Claims returns "" and no error
// when c has no claims parameter or it is empty. It returns an error
// wrapping [ErrTooLarge] when the parameter is longer than
// [MaxClaimsBytes], and one wrapping [ErrClaims] when it is not base64 or
// does not decode to a JSON object.
func (c Challenge) Claims() (string, error) {
	v := c.Params["claims"]
	if v == "" {
		return "", nil
	}
	if len(v) > MaxClaimsBytes {
		return "", fmt.Errorf("%w: claims parameter of %d bytes exceeds the limit of %d bytes",
			ErrTooLarge, len(v), MaxClaimsBytes)
	}
	b, err := decodeBase64(v)
	if err != nil {
		return "", fmt.Errorf("%w: claims parameter is not base64: %w", ErrClaims, err)
	}
	if err := checkObject(b); err != nil {
		return "", fmt.Errorf("%w: decoded claims parameter is not a JSON object: %w", ErrClaims, err)
	}
	return string(b), nil
}

// decodeBase64 decodes s in either alphabet, padding optional.
func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	enc := base64.RawStdEncoding
	if strings.ContainsAny(s, "-_") {
		enc = base64.RawURLEncoding
	}
	return enc.DecodeString(s)
}

// checkObject reports whether b is exactly one JSON object.
func checkObject(b []byte) error {
	if !json.Valid(b) {
		return errors.New("invalid JSON")
	}
	if t := bytes.TrimLeft(b, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return errors.New("JSON value is not an object")
	}
	return nil
}

// Merge deep-merges JSON claims requests into one, for example the claims
// of a challenge with the claims an application always asks for.
//
// Every non-empty argument must be a JSON object; empty arguments are
// skipped, and Merge returns "" when all are empty. Objects are merged key
// by key, recursively; when two values for a key are not both objects, the
// later argument's value wins. The result is compact JSON with keys in
// sorted order and numbers written as they were given. An argument that is
// not a JSON object gives an error wrapping [ErrClaims].
func Merge(claims ...string) (string, error) {
	var acc map[string]any
	for i, c := range claims {
		if c == "" {
			continue
		}
		m, err := decodeObject(c)
		if err != nil {
			return "", fmt.Errorf("%w: argument %d: %w", ErrClaims, i, err)
		}
		acc = mergeInto(acc, m)
	}
	if acc == nil {
		return "", nil
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(acc); err != nil {
		return "", fmt.Errorf("%w: %w", ErrClaims, err)
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

func decodeObject(s string) (map[string]any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON value")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("JSON value is not an object")
	}
	return m, nil
}

// mergeInto merges src into dst (which it may modify) and returns the
// result.
func mergeInto(dst, src map[string]any) map[string]any {
	if dst == nil {
		return src
	}
	for k, sv := range src {
		if sm, ok := sv.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				dst[k] = mergeInto(dm, sm)
				continue
			}
		}
		dst[k] = sv
	}
	return dst
}
