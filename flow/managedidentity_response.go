package flow

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/bearerhttp/bearer/internal/oauth"
)

// maxMILifetime caps a managed identity token's lifetime: a later
// expires_on is malformed.
const maxMILifetime = 366 * 24 * time.Hour

// halfLifeFrom is the lifetime from which a token without refresh_in is
// refreshed at half its life.
const halfLifeFrom = 2 * time.Hour

// expiresOnLayouts are the date forms of expires_on some sources sent
// before epoch seconds (App Service's 2017 API, Azure ML).
var expiresOnLayouts = []string{"1/2/2006 3:04:05 PM -07:00", "1/2/2006 15:04:05 -07:00", time.RFC3339}

// parseMIToken reads a managed identity source's token response received
// at now. The sources share access_token and token_type with OAuth, but
// say when the token expires in their own ways: expires_in (IMDS, Arc,
// Cloud Shell; a number or a numeric string), else expires_on (App
// Service, Service Fabric, Azure ML: epoch seconds as a number or a
// string, or a date). refresh_in is honoured when sent; without it, a
// token living two hours or more is refreshed at half its life. It fails,
// with an error wrapping [ErrMalformedResponse] that never shows the
// body, for a body that is not a JSON object, has no access token, no
// usable lifetime, or a token already expired.
func parseMIToken(body []byte, now time.Time) (*oauth.TokenResponse, error) {
	tok, err := oauth.ParseTokenResponse(body, now)
	if err != nil {
		return nil, err
	}
	if tok.ExpiresIn <= 0 {
		var w struct {
			ExpiresOn json.RawMessage `json:"expires_on"`
		}
		if err := json.Unmarshal(bytes.TrimSpace(body), &w); err != nil {
			return nil, fmt.Errorf("%w: managed identity token response: expires_on is unreadable", ErrMalformedResponse)
		}
		exp, err := parseExpiresOn(w.ExpiresOn)
		if err != nil {
			return nil, err
		}
		tok.ExpiresOn = exp
		tok.ExpiresIn = exp.Sub(now)
	}
	life := tok.ExpiresIn
	switch {
	case life <= 0:
		return nil, fmt.Errorf("%w: managed identity token response: the token has already expired", ErrMalformedResponse)
	case life > maxMILifetime:
		return nil, fmt.Errorf("%w: managed identity token response: a lifetime of %s is not a token's", ErrMalformedResponse, life.Round(time.Second))
	}
	switch {
	case tok.RefreshIn > 0 && tok.RefreshIn < life:
		tok.RefreshOn = now.Add(tok.RefreshIn)
	case life >= halfLifeFrom:
		tok.RefreshOn = now.Add(life / 2)
	default:
		tok.RefreshOn = time.Time{}
	}
	return tok, nil
}

// parseExpiresOn reads expires_on: epoch seconds as a JSON number or a
// numeric string, or a date in one of expiresOnLayouts.
func parseExpiresOn(raw json.RawMessage) (time.Time, error) {
	bad := fmt.Errorf("%w: managed identity token response has no expires_in and no readable expires_on", ErrMalformedResponse)
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return time.Time{}, bad
	}
	var s string
	if raw[0] == '"' {
		if json.Unmarshal(raw, &s) != nil {
			return time.Time{}, bad
		}
		s = strings.TrimSpace(s)
	} else {
		s = string(raw)
	}
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		// Epoch seconds, within what a time can hold.
		if n < 0 || n > 1e11 || n != n {
			return time.Time{}, bad
		}
		return time.Unix(int64(n), 0), nil
	}
	if raw[0] != '"' {
		return time.Time{}, bad
	}
	for _, layout := range expiresOnLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, bad
}
