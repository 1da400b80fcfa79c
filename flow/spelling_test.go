package flow

import (
	"bytes"
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/bearerhttp/bearer"
	"github.com/bearerhttp/bearer/authtest"
)

// lenientDecode decodes s as lenient base64 decoders do (jwx among them):
// either alphabet, padding optional, unused bits ignored.
func lenientDecode(s string) ([]byte, error) {
	s = strings.NewReplacer("+", "-", "/", "_").Replace(strings.TrimRight(s, "="))
	return base64.RawURLEncoding.DecodeString(s)
}

// spellings returns other spellings of the compact JWS token, by name: a
// part padded, in the standard alphabet, with non-zero unused bits, and
// their combinations. A lenient decoder reads each as the same token.
func spellings(t *testing.T, token string) map[string]string {
	t.Helper()
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	parts := strings.Split(token, ".")
	out := map[string]string{}
	for i, p := range parts {
		variants := map[string]string{}
		pad := strings.Repeat("=", (4-len(p)%4)%4)
		if pad != "" {
			variants["padded"] = p + pad
		}
		if strings.ContainsAny(p, "-_") {
			std := strings.NewReplacer("-", "+", "_", "/").Replace(p)
			variants["standard_alphabet"] = std
			variants["standard_alphabet_padded"] = std + pad
		}
		if len(p)%4 >= 2 {
			bits := p[:len(p)-1] + string(alphabet[base64urlValue[p[len(p)-1]]|1])
			variants["unused_bits"] = bits
			variants["unused_bits_padded"] = bits + pad
		}
		for name, v := range variants {
			if v == p {
				continue
			}
			other := slices.Clone(parts)
			other[i] = v
			out[jwsParts[i]+"_"+name] = strings.Join(other, ".")
		}
	}
	for name, s := range out {
		for i, p := range strings.Split(s, ".") {
			got, err := lenientDecode(p)
			want, _ := base64.RawURLEncoding.DecodeString(parts[i])
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("spelling %s: part %d does not decode to the token's bytes: %v", name, i, err)
			}
		}
	}
	return out
}

func TestSegmentProblem(t *testing.T) {
	tests := []struct {
		name, segment, problem string // problem: part of the answer; "" for none
	}{
		{"empty", "", ""},
		{"two_characters", "YQ", ""},
		{"three_characters", "YWI", ""},
		{"four_characters", "YWJj", ""},
		{"url_alphabet", "-_-_", ""},
		{"padded_two", "YQ==", "padding"},
		{"padded_three", "YWI=", "padding"},
		{"padding_alone", "====", "padding"},
		{"padding_inside", "YQ==YWJj", "padding"},
		{"standard_plus", "+_-_", "standard base64 alphabet"},
		{"standard_slash", "-/-_", "standard base64 alphabet"},
		{"unused_bits_of_two", "YR", "unused bits"},
		{"unused_bits_of_two_high", "YX", "unused bits"},
		{"unused_bits_of_three", "YWJ", "unused bits"},
		{"one_character", "Y", "length"},
		{"five_characters", "YWJjZ", "length"},
		{"line_feed", "YW\nJj", "outside base64url"},
		{"carriage_return", "YWJj\r", "outside base64url"},
		{"space", "YW Jj", "outside base64url"},
		{"dot", "YW.Jj", "outside base64url"},
		{"tilde", "YW~j", "outside base64url"},
		{"non_ascii", "YWJé", "outside base64url"},
		{"nul", "YW\x00j", "outside base64url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := segmentProblem(tt.segment)
			if (got == "") != (tt.problem == "") || !strings.Contains(got, tt.problem) {
				t.Errorf("segmentProblem(%q) = %q, want %q", tt.segment, got, tt.problem)
			}
			b, err := decodeSegment(tt.segment)
			if (err == nil) != (tt.problem == "") {
				t.Errorf("decodeSegment(%q) = %q, %v", tt.segment, b, err)
			}
			if err != nil && len(tt.segment) > 3 && strings.Contains(err.Error(), tt.segment) {
				t.Errorf("the error %q quotes the segment", err)
			}
		})
	}
}

// TestMiddlewareRefusesOtherSpellings checks that the middleware lets a
// token through in its one canonical spelling only: any other (padding,
// the standard alphabet, non-zero unused bits, in any part) would verify
// alike, yet be another on-behalf-of cache key.
func TestMiddlewareRefusesOtherSpellings(t *testing.T) {
	m := newMiddleTier(t, authtest.Client{})
	a := newAPI(t, m, nil, WithAudiences(middleAPI))
	tok := m.assertion(aliceName)
	if w := a.call("Bearer " + tok); w.Code != 200 {
		t.Fatalf("the canonical token: %d", w.Code)
	}
	all := spellings(t, tok)
	// An RS256 signature is 256 bytes, 342 characters: it always has
	// these (the other parts' spellings depend on their lengths and
	// characters).
	for _, name := range []string{"signature_padded", "signature_unused_bits", "signature_unused_bits_padded"} {
		if _, ok := all[name]; !ok {
			t.Fatalf("no spelling %s among %d", name, len(all))
		}
	}
	for name, s := range all {
		t.Run(name, func(t *testing.T) {
			w := a.call("Bearer " + s)
			ch := w.Header().Get("WWW-Authenticate")
			part, _, _ := strings.Cut(name, "_")
			switch {
			case w.Code == 400 && strings.Contains(ch, `error="invalid_request"`) && strings.Contains(name, "padded") && part != "signature":
				// '=' inside a bearer token breaks RFC 6750's b64token.
			case w.Code == 401 && strings.Contains(ch, `error="invalid_token"`) && strings.Contains(ch, "token's "+part+" is not canonical base64url"):
			default:
				t.Errorf("status %d %s, want 401 invalid_token naming the %s", w.Code, ch, part)
			}
			if a.last.called {
				t.Error("the handler was called")
			}
		})
	}
}

// TestOnBehalfOfRefusesOtherSpellings checks that an on-behalf-of call
// refuses an assertion that is not a compact JWT in canonical base64url,
// before any request, with an error that names the problem and not the
// assertion: each spelling of one token would be cached apart and cost an
// on-behalf-of request of its own.
func TestOnBehalfOfRefusesOtherSpellings(t *testing.T) {
	m := newMiddleTier(t, authtest.Client{})
	app := m.app(t)
	alice := m.assertion(aliceName)
	if _, err := app.AcquireTokenOnBehalfOf(bg(), alice, downstreamRead); err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	broken := spellings(t, alice)
	for name, s := range map[string]string{
		"opaque":            "opaque-reference-token",
		"two_parts":         "eyJhbGciOiJub25lIn0.e30",
		"four_parts":        alice + ".e30",
		"six_parts":         alice + ".e30.e30.e30",
		"empty_header":      "." + strings.SplitN(alice, ".", 2)[1],
		"jwe_padded_tag":    enc([]byte(`{"alg":"dir","enc":"A256GCM"}`)) + "..aXY.Y2lwaGVy.dGFn=",
		"line_feed_payload": strings.Replace(alice, ".", ".\n", 1),
	} {
		broken[name] = s
	}
	for name, s := range broken {
		t.Run(name, func(t *testing.T) {
			_, err := app.AcquireTokenOnBehalfOf(bg(), s, downstreamRead)
			if !errors.Is(err, ErrMalformedAssertion) {
				t.Fatalf("error %v, want ErrMalformedAssertion", err)
			}
			msg := err.Error()
			for _, p := range strings.Split(s, ".") {
				if len(p) >= 8 && strings.Contains(msg, p) {
					t.Errorf("the error %q quotes the assertion", msg)
				}
			}
			if part, _, _ := strings.Cut(name, "_"); slices.Contains(jwsParts[:], part) && !strings.Contains(msg, "its "+part+" is not canonical base64url") {
				t.Errorf("the error %q does not name the %s", msg, part)
			}
			// The source refuses it alike.
			ctx := ContextWithUserAssertion(bg(), s)
			if _, err := app.OnBehalfOfSource().Token(ctx, bearer.TokenRequest{Scopes: downstreamRead}); !errors.Is(err, ErrMalformedAssertion) {
				t.Errorf("OnBehalfOfSource: %v, want ErrMalformedAssertion", err)
			}
		})
	}
	if got := m.grants(); len(got) != 1 {
		t.Errorf("token requests %v, want the canonical assertion's only", got)
	}
	// A JWE in canonical spelling is an assertion the authority may take.
	jwe := enc([]byte(`{"alg":"dir","enc":"A256GCM"}`)) + "..aXY.Y2lwaGVy.dGFn"
	if part, problem := compactProblem(jwe); problem != "" {
		t.Errorf("compactProblem(JWE) = %s %s", part, problem)
	}
}

// FuzzSegment checks segmentProblem against its definition: a segment is
// canonical exactly when the strict decoder reads it, it has no CR or LF
// (which the decoder skips), and encoding what it reads gives it back.
func FuzzSegment(f *testing.F) {
	for _, s := range []string{"", "YQ", "YR", "YWI", "YWJ", "YWJj", "YQ==", "+/-_", "Y", "YW\nJj", "é", "AAAA"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := base64.RawURLEncoding.Strict().DecodeString(s)
		canonical := err == nil && !strings.ContainsAny(s, "\r\n") && base64.RawURLEncoding.EncodeToString(b) == s
		problem := segmentProblem(s)
		if canonical != (problem == "") {
			t.Fatalf("segmentProblem(%q) = %q, canonical %v", s, problem, canonical)
		}
		d, err := decodeSegment(s)
		if canonical != (err == nil) || canonical && !bytes.Equal(d, b) {
			t.Fatalf("decodeSegment(%q) = %q, %v", s, d, err)
		}
	})
}

// FuzzUserAssertion checks the user assertion's check on any input: it
// never panics, accepts only compact JWS and JWE whose parts are all
// canonical, and answers with fixed phrases only, never a piece of the
// input.
func FuzzUserAssertion(f *testing.F) {
	enc := base64.RawURLEncoding.EncodeToString
	for _, s := range []string{
		testJWT(`{"sub":"alice"}`), "", ".", "..", "a.b.c", "a.b.c.d.e", "a.b.c.d", "YQ==.e30.", ".e30.", "e30.e30.e30=",
		enc([]byte(`{"alg":"dir"}`)) + "..aXY.Y2lwaGVy.dGFn",
	} {
		f.Add(s)
	}
	phrases := []string{
		"is not a compact JWT (three or five base64url parts separated by dots)", "is empty",
		"padding ('='), which RFC 7515 leaves out", "a character outside base64url", "a length no base64 encoding has",
		"characters of the standard base64 alphabet ('+' or '/') instead of base64url ('-' or '_')", nonZeroTrailingBits,
	}
	f.Fuzz(func(t *testing.T, s string) {
		part, problem := compactProblem(s)
		n := strings.Count(s, ".") + 1
		wantOK := n == 3 || n == 5
		for i, p := range strings.Split(s, ".") {
			wantOK = wantOK && segmentProblem(p) == "" && (i > 0 || p != "")
		}
		if (problem == "") != wantOK {
			t.Fatalf("compactProblem(%q) = %q %q, want ok %v", s, part, problem, wantOK)
		}
		if problem == "" {
			return
		}
		if part != "" && !slices.Contains(jwsParts[:], part) && !slices.Contains(jweParts[:], part) {
			t.Fatalf("part %q", part)
		}
		rest := strings.TrimPrefix(problem, "is not canonical base64url (RFC 7515): it has ")
		if !slices.Contains(phrases, rest) {
			t.Fatalf("problem %q is not one of the fixed phrases", problem)
		}
	})
}
