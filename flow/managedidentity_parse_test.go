package flow

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

// miResponses are token responses as each source sends them, and broken
// ones; seeds of FuzzParseMIToken too.
var miResponses = []struct {
	name      string
	body      string
	ok        bool
	expiresOn time.Time
	refreshOn time.Time
}{
	{"imds_strings", `{"access_token":"at","client_id":"c","expires_in":"86399","expires_on":"1","ext_expires_in":"86399","not_before":"1","resource":"r","token_type":"Bearer"}`,
		true, testNow.Add(86399 * time.Second), testNow.Add(86399 * time.Second / 2)},
	{"app_service_epoch_string", `{"access_token":"at","expires_on":"` + epoch(testNow.Add(3*time.Hour)) + `","resource":"r","token_type":"Bearer","client_id":"c"}`,
		true, testNow.Add(3 * time.Hour), testNow.Add(90 * time.Minute)},
	{"service_fabric_epoch_number", `{"token_type":"Bearer","access_token":"at","expires_on":` + epoch(testNow.Add(time.Hour)) + `,"resource":"r"}`,
		true, testNow.Add(time.Hour), time.Time{}},
	{"epoch_fraction", `{"access_token":"at","expires_on":` + epoch(testNow.Add(time.Hour)) + `.5}`, true, testNow.Add(time.Hour), time.Time{}},
	{"expires_on_date", `{"access_token":"at","expires_on":"` + testNow.Add(5*time.Hour).Format("1/2/2006 15:04:05 -07:00") + `"}`,
		true, testNow.Add(5 * time.Hour), testNow.Add(150 * time.Minute)},
	{"expires_on_date_pm", `{"access_token":"at","expires_on":"` + testNow.Add(5*time.Hour).Format("1/2/2006 3:04:05 PM -07:00") + `"}`,
		true, testNow.Add(5 * time.Hour), testNow.Add(150 * time.Minute)},
	{"refresh_in", `{"access_token":"at","expires_in":7200,"refresh_in":600}`, true, testNow.Add(2 * time.Hour), testNow.Add(10 * time.Minute)},
	{"refresh_in_past_expiry_ignored", `{"access_token":"at","expires_in":3600,"refresh_in":7200}`, true, testNow.Add(time.Hour), time.Time{}},
	{"expires_in_wins_over_expires_on", `{"access_token":"at","expires_in":3600,"expires_on":"1"}`, true, testNow.Add(time.Hour), time.Time{}},
	{"no_token_type", `{"access_token":"at","expires_in":3600}`, true, testNow.Add(time.Hour), time.Time{}},
	{"no_lifetime", `{"access_token":"at","token_type":"Bearer"}`, false, time.Time{}, time.Time{}},
	{"expired", `{"access_token":"at","expires_on":"` + epoch(testNow.Add(-time.Second)) + `"}`, false, time.Time{}, time.Time{}},
	{"expires_now", `{"access_token":"at","expires_on":` + epoch(testNow) + `}`, false, time.Time{}, time.Time{}},
	{"too_long", `{"access_token":"at","expires_on":` + epoch(testNow.Add(400*24*time.Hour)) + `}`, false, time.Time{}, time.Time{}},
	{"negative_epoch", `{"access_token":"at","expires_on":-5}`, false, time.Time{}, time.Time{}},
	{"huge_epoch", `{"access_token":"at","expires_on":1e300}`, false, time.Time{}, time.Time{}},
	{"expires_on_bool", `{"access_token":"at","expires_on":true}`, false, time.Time{}, time.Time{}},
	{"expires_on_null", `{"access_token":"at","expires_on":null}`, false, time.Time{}, time.Time{}},
	{"expires_on_garbage", `{"access_token":"at","expires_on":"soon"}`, false, time.Time{}, time.Time{}},
	{"expires_on_object", `{"access_token":"at","expires_on":{"t":1}}`, false, time.Time{}, time.Time{}},
	{"no_access_token", `{"expires_in":3600}`, false, time.Time{}, time.Time{}},
	{"error_body", `{"error":"invalid_request","error_description":"Identity not found"}`, false, time.Time{}, time.Time{}},
	{"not_json", `<html>`, false, time.Time{}, time.Time{}},
	{"empty", ``, false, time.Time{}, time.Time{}},
	{"array", `[{"access_token":"at"}]`, false, time.Time{}, time.Time{}},
}

func epoch(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

func TestParseMIToken(t *testing.T) {
	for _, tt := range miResponses {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := parseMIToken([]byte(tt.body), testNow)
			if !tt.ok {
				if err == nil {
					t.Fatalf("parsed %+v, want an error", tok)
				}
				if strings.Contains(err.Error(), `"at"`) || strings.Contains(err.Error(), "Identity not found") && !strings.Contains(tt.name, "error") {
					t.Errorf("the error shows the body: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tok.AccessToken != "at" || tok.TokenType != "Bearer" || !tok.ExpiresOn.Equal(tt.expiresOn) || !tok.RefreshOn.Equal(tt.refreshOn) {
				t.Errorf("token type %q, expires %v (want %v), refresh %v (want %v)", tok.TokenType, tok.ExpiresOn, tt.expiresOn, tok.RefreshOn, tt.refreshOn)
			}
		})
	}
}

func TestParseMITokenMalformedWrapsTheSentinel(t *testing.T) {
	for _, body := range []string{`{"access_token":"secret-AT","expires_on":"soon"}`, `{"access_token":"secret-AT"}`, `{"access_token":"secret-AT","expires_on":1}`} {
		_, err := parseMIToken([]byte(body), testNow)
		if !errors.Is(err, ErrMalformedResponse) || strings.Contains(err.Error(), "secret-AT") {
			t.Errorf("%s: %v", body, err)
		}
	}
}

func FuzzParseMIToken(f *testing.F) {
	for _, tt := range miResponses {
		f.Add([]byte(tt.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		tok, err := parseMIToken(body, testNow)
		if err != nil {
			if tok != nil {
				t.Fatalf("a token with an error")
			}
			return
		}
		if tok.AccessToken == "" || !tok.ExpiresOn.After(testNow) || tok.ExpiresOn.Sub(testNow) > maxMILifetime {
			t.Fatalf("accepted %q expiring %v", tok.AccessToken, tok.ExpiresOn)
		}
		if !tok.RefreshOn.IsZero() && (!tok.RefreshOn.After(testNow) || !tok.RefreshOn.Before(tok.ExpiresOn)) {
			t.Fatalf("RefreshOn %v outside (now, %v)", tok.RefreshOn, tok.ExpiresOn)
		}
	})
}

// arcChallenges are WWW-Authenticate values of Azure Arc's 401, and
// broken ones; seeds of FuzzParseArcChallenge too.
var arcChallenges = []struct {
	name   string
	values []string
	want   string // "" for an error
}{
	{"linux", []string{"Basic realm=/var/opt/azcmagent/tokens/0b1f.key"}, "/var/opt/azcmagent/tokens/0b1f.key"},
	{"windows", []string{`Basic realm=C:\ProgramData\AzureConnectedMachineAgent\Tokens\0b1f.key`}, `C:\ProgramData\AzureConnectedMachineAgent\Tokens\0b1f.key`},
	{"quoted", []string{`Basic realm="/var/opt/azcmagent/tokens/a.key"`}, "/var/opt/azcmagent/tokens/a.key"},
	{"case_and_space", []string{"  basic REALM=/t/a.key  "}, "/t/a.key"},
	{"second_value", []string{`Bearer realm="x"`, "Basic realm=/t/a.key"}, "/t/a.key"},
	{"no_value", nil, ""},
	{"empty_realm", []string{"Basic realm="}, ""},
	{"empty_quoted", []string{`Basic realm=""`}, ""},
	{"bearer_only", []string{`Bearer realm="/t/a.key"`}, ""},
	{"space_before_equals", []string{"Basic realm =/t/a.key"}, ""},
	{"control_characters", []string{"Basic realm=/t/a\x01.key"}, ""},
	{"inner_quote", []string{`Basic realm=/t/a".key`}, ""},
	{"huge", []string{"Basic realm=/" + strings.Repeat("a", maxArcChallenge)}, ""},
}

func TestParseArcChallenge(t *testing.T) {
	for _, tt := range arcChallenges {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseArcChallenge(tt.values)
			if tt.want == "" {
				if err == nil {
					t.Errorf("parsed %q, want an error", got)
				} else if len(err.Error()) > 300 {
					t.Errorf("the error is %d bytes long", len(err.Error()))
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("%q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func FuzzParseArcChallenge(f *testing.F) {
	for _, tt := range arcChallenges {
		f.Add(strings.Join(tt.values, "\n"))
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parseArcChallenge(strings.Split(s, "\n"))
		if err != nil {
			if p != "" {
				t.Fatalf("a path with an error")
			}
			if len(err.Error()) > 700 {
				t.Fatalf("the error is %d bytes long", len(err.Error()))
			}
			return
		}
		if p == "" || strings.ContainsAny(p, "\"\x00\r\n") || len(p) > maxArcChallenge {
			t.Fatalf("accepted %q", p)
		}
	})
}

func TestParseThumbprint(t *testing.T) {
	good := []string{strings.Repeat("ab", 20), strings.Repeat("AB", 20), "01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67", " " + strings.Repeat("0f ", 20)}
	for _, s := range good {
		if b, err := parseThumbprint(s); err != nil || len(b) != 20 {
			t.Errorf("%q: %v", s, err)
		}
	}
	for _, s := range []string{"", strings.Repeat("ab", 19), strings.Repeat("ab", 21), strings.Repeat("zz", 20), strings.Repeat("ab", 32)} {
		if _, err := parseThumbprint(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}
