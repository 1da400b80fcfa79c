package oauth

import (
	"errors"
	"slices"
	"testing"
)

// TestParseMetadataDPoP: dpop_signing_alg_values_supported (RFC 9449
// section 5.1) is read; a document without it supports no DPoP; one of
// the wrong type is malformed, like the other algorithm lists.
func TestParseMetadataDPoP(t *testing.T) {
	m, err := ParseMetadata([]byte(`{"token_endpoint":"https://as.example/token","dpop_signing_alg_values_supported":["ES256","PS256"]}`))
	if err != nil || !slices.Equal(m.DPoPAlgs, []string{"ES256", "PS256"}) {
		t.Errorf("ParseMetadata = %+v, %v", m, err)
	}
	if m, err := ParseMetadata([]byte(entraMetadata)); err != nil || m.DPoPAlgs != nil {
		t.Errorf("Entra's document: %v, %v", m.DPoPAlgs, err)
	}
	for _, body := range []string{
		`{"token_endpoint":"https://as.example/token","dpop_signing_alg_values_supported":"ES256"}`,
		`{"token_endpoint":"https://as.example/token","dpop_signing_alg_values_supported":[256]}`,
	} {
		if _, err := ParseMetadata([]byte(body)); !errors.Is(err, ErrMalformedResponse) {
			t.Errorf("%s: %v", body, err)
		}
	}
}
