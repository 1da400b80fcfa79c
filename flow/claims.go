package flow

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/bearerhttp/bearer/challenge"
)

// capabilitiesClaims returns the claims request that declares client
// capabilities, {"access_token":{"xms_cc":{"values":[…]}}}, or "" for
// none. Every capability must be a non-empty name without spaces or
// control characters.
func capabilitiesClaims(caps []string) (string, error) {
	if len(caps) == 0 {
		return "", nil
	}
	for _, c := range caps {
		if c == "" || strings.IndexFunc(c, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
			return "", fmt.Errorf("%w: capability %q is not a name such as cp1", ErrInvalidOption, c)
		}
	}
	type xmsCC struct {
		Values []string `json:"values"`
	}
	b, err := json.Marshal(map[string]map[string]xmsCC{"access_token": {"xms_cc": {Values: caps}}})
	if err != nil {
		return "", fmt.Errorf("%w: capabilities: %w", ErrInvalidOption, err)
	}
	return string(b), nil
}

// mergeClaims returns the claims form field of a request: the client
// capabilities (capabilitiesClaims' result) deep-merged with a call's
// claims (a challenge's, or Claims), which win a conflict. Either may be
// empty; both empty give "". Claims that are not a JSON object are an
// error wrapping [challenge.ErrClaims] and [ErrInvalidOption].
func mergeClaims(capabilities, claims string) (string, error) {
	if claims == "" {
		return capabilities, nil
	}
	merged, err := challenge.Merge(capabilities, claims)
	if err != nil {
		return "", fmt.Errorf("%w: claims: %w", ErrInvalidOption, err)
	}
	return merged, nil
}
