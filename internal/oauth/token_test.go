package oauth

import (
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// clientInfo encodes uid and utid as Entra does.
func clientInfo(uid, utid string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf(`{"uid":%q,"utid":%q}`, uid, utid)))
}

func TestParseTokenResponse(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		check func(t *testing.T, tr *TokenResponse)
	}{
		{"entra_client_credentials", `{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"eyJ0"}`, func(t *testing.T, tr *TokenResponse) {
			if tr.AccessToken != "eyJ0" || tr.TokenType != "Bearer" {
				t.Errorf("token = %q %q", tr.TokenType, tr.AccessToken)
			}
			if !tr.ExpiresOn.Equal(testNow.Add(3599 * time.Second)) {
				t.Errorf("ExpiresOn = %v", tr.ExpiresOn)
			}
			if !tr.ExtExpiresOn.Equal(testNow.Add(3599 * time.Second)) {
				t.Errorf("ExtExpiresOn = %v", tr.ExtExpiresOn)
			}
			if !tr.RefreshOn.IsZero() {
				t.Errorf("RefreshOn = %v for a 1 hour token without refresh_in, want zero", tr.RefreshOn)
			}
		}},
		{"lifetimes_as_strings", `{"access_token":"a","expires_in":"3600","ext_expires_in":"7200","refresh_in":"1800"}`, func(t *testing.T, tr *TokenResponse) {
			if tr.ExpiresIn != time.Hour || tr.ExtExpiresIn != 2*time.Hour || tr.RefreshIn != 30*time.Minute {
				t.Errorf("lifetimes = %v %v %v", tr.ExpiresIn, tr.ExtExpiresIn, tr.RefreshIn)
			}
			if !tr.RefreshOn.Equal(testNow.Add(30 * time.Minute)) {
				t.Errorf("RefreshOn = %v", tr.RefreshOn)
			}
		}},
		{"refresh_in_wins_over_half_life", `{"access_token":"a","expires_in":86399,"refresh_in":43199}`, func(t *testing.T, tr *TokenResponse) {
			if !tr.RefreshOn.Equal(testNow.Add(43199 * time.Second)) {
				t.Errorf("RefreshOn = %v", tr.RefreshOn)
			}
		}},
		{"half_life_from_two_hours", `{"access_token":"a","expires_in":7200}`, func(t *testing.T, tr *TokenResponse) {
			if !tr.RefreshOn.Equal(testNow.Add(time.Hour)) {
				t.Errorf("RefreshOn = %v, want half of 2 h", tr.RefreshOn)
			}
		}},
		{"no_half_life_under_two_hours", `{"access_token":"a","expires_in":7199}`, func(t *testing.T, tr *TokenResponse) {
			if !tr.RefreshOn.IsZero() {
				t.Errorf("RefreshOn = %v", tr.RefreshOn)
			}
		}},
		{"fractional_and_null_lifetimes", `{"access_token":"a","expires_in":60.9,"ext_expires_in":null}`, func(t *testing.T, tr *TokenResponse) {
			if tr.ExpiresIn != 60*time.Second || !tr.ExtExpiresOn.IsZero() {
				t.Errorf("lifetimes = %v %v", tr.ExpiresIn, tr.ExtExpiresOn)
			}
		}},
		{"no_expires_in", `{"access_token":"a"}`, func(t *testing.T, tr *TokenResponse) {
			if !tr.ExpiresOn.IsZero() {
				t.Errorf("ExpiresOn = %v, want zero", tr.ExpiresOn)
			}
		}},
		{"token_type_defaults_to_Bearer", `{"access_token":"a","token_type":""}`, func(t *testing.T, tr *TokenResponse) {
			if tr.TokenType != "Bearer" {
				t.Errorf("TokenType = %q", tr.TokenType)
			}
		}},
		{"user_flow", `{"access_token":"a","token_type":"Bearer","scope":"User.Read openid profile","refresh_token":"rt","id_token":"idt","client_info":"` + clientInfo("oid-1", "tid-1") + `","foci":"1","expires_in":3600}`, func(t *testing.T, tr *TokenResponse) {
			if tr.RefreshToken != "rt" || tr.IDToken != "idt" || tr.FamilyID != "1" {
				t.Errorf("refresh %q id %q foci %q", tr.RefreshToken, tr.IDToken, tr.FamilyID)
			}
			if tr.ClientInfo != (ClientInfo{"oid-1", "tid-1"}) || tr.ClientInfo.HomeAccountID() != "oid-1.tid-1" {
				t.Errorf("ClientInfo = %+v", tr.ClientInfo)
			}
			if got := tr.Scopes(); strings.Join(got, ",") != "User.Read,openid,profile" {
				t.Errorf("Scopes = %q", got)
			}
		}},
		{"foci_as_number", `{"access_token":"a","foci":1}`, func(t *testing.T, tr *TokenResponse) {
			if tr.FamilyID != "1" {
				t.Errorf("FamilyID = %q", tr.FamilyID)
			}
		}},
		{"client_info_padded_standard_alphabet", `{"access_token":"a","client_info":"` + base64.StdEncoding.EncodeToString([]byte(`{"uid":"u?>","utid":"t"}`)) + `"}`, func(t *testing.T, tr *TokenResponse) {
			if tr.ClientInfo.UID != "u?>" {
				t.Errorf("ClientInfo = %+v", tr.ClientInfo)
			}
		}},
		{"unknown_fields_ignored", `{"access_token":"a","x":{"y":[1,2]},"not_before":"1"}`, func(t *testing.T, tr *TokenResponse) {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := ParseTokenResponse([]byte(tt.body), testNow)
			if err != nil {
				t.Fatalf("ParseTokenResponse: %v", err)
			}
			tt.check(t, tr)
		})
	}
}

func TestParseTokenResponseBroken(t *testing.T) {
	tests := []struct {
		name string
		body string
	}{
		{"empty", ``},
		{"not_json", `access_token=secret-token`},
		{"json_array", `["secret-token"]`},
		{"json_string", `"secret-token"`},
		{"truncated", `{"access_token":"secret-token"`},
		{"no_access_token", `{"token_type":"Bearer","expires_in":3600}`},
		{"empty_access_token", `{"access_token":""}`},
		{"access_token_number", `{"access_token":12345}`},
		{"negative_expires_in", `{"access_token":"secret-token","expires_in":-1}`},
		{"huge_expires_in", `{"access_token":"secret-token","expires_in":1e300}`},
		{"expires_in_word", `{"access_token":"secret-token","expires_in":"soon"}`},
		{"expires_in_bool", `{"access_token":"secret-token","expires_in":true}`},
		{"refresh_in_object", `{"access_token":"secret-token","refresh_in":{}}`},
		{"client_info_not_base64", `{"access_token":"secret-token","client_info":"***"}`},
		{"client_info_not_json", `{"access_token":"secret-token","client_info":"` + base64.RawURLEncoding.EncodeToString([]byte("uid")) + `"}`},
		{"client_info_uid_number", `{"access_token":"secret-token","client_info":"` + base64.RawURLEncoding.EncodeToString([]byte(`{"uid":1}`)) + `"}`},
		{"foci_object", `{"access_token":"secret-token","foci":{}}`},
		{"scope_array", `{"access_token":"secret-token","scope":["a"]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := ParseTokenResponse([]byte(tt.body), testNow)
			if err == nil {
				t.Fatalf("ParseTokenResponse accepted %s: %v", tt.body, tr)
			}
			if !errors.Is(err, ErrMalformedResponse) {
				t.Errorf("error %v does not wrap ErrMalformedResponse", err)
			}
			mustNotContain(t, "error", err.Error(), "secret-token")
		})
	}
}

func TestParseTokenResponseWithErrorField(t *testing.T) {
	_, err := ParseTokenResponse([]byte(`{"error":"authorization_pending","error_description":"wait"}`), testNow)
	var re *ResponseError
	if !errors.As(err, &re) || re.Code != "authorization_pending" {
		t.Fatalf("error = %v, want a ResponseError", err)
	}
}

func TestTokenResponseHidesTokens(t *testing.T) {
	tr, err := ParseTokenResponse([]byte(`{"access_token":"AT-SECRET","refresh_token":"RT-SECRET","id_token":"ID-SECRET","expires_in":3600}`), testNow)
	if err != nil {
		t.Fatal(err)
	}
	var lb logBuffer
	lb.logger().Debug("token", "t", tr, "v", *tr)
	for _, s := range []string{
		fmt.Sprint(tr), fmt.Sprint(*tr), fmt.Sprintf("%v %+v %#v %s %q", *tr, *tr, *tr, *tr, *tr),
		fmt.Sprintf("%#v", tr), tr.String(), tr.GoString(), lb.String(),
		slog.AnyValue(*tr).String(),
	} {
		mustNotContain(t, "formatted token response", s, "AT-SECRET", "RT-SECRET", "ID-SECRET")
	}
	if !strings.Contains(tr.String(), "REDACTED") {
		t.Errorf("String() = %q shows no REDACTED marker", tr.String())
	}
}

func TestDecodeClientInfo(t *testing.T) {
	ci, err := DecodeClientInfo(clientInfo("u", "t") + "==")
	if err != nil || ci.HomeAccountID() != "u.t" {
		t.Fatalf("DecodeClientInfo = %+v, %v", ci, err)
	}
	if (ClientInfo{UID: "u"}).HomeAccountID() != "" {
		t.Error("HomeAccountID of a ClientInfo without utid is not empty")
	}
}
