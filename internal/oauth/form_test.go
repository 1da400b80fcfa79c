package oauth

import (
	"net/url"
	"reflect"
	"strings"
	"testing"
)

func TestForms(t *testing.T) {
	graph := []string{"https://graph.microsoft.com/.default"}
	user := UserScopes([]string{"User.Read"}, nil)
	claims := `{"access_token":{"xms_cc":{"values":["cp1"]}}}`
	tests := []struct {
		name string
		got  url.Values
		want url.Values
	}{
		{"client_credentials", ClientCredentialsForm("cid", graph, ""), url.Values{
			"client_id": {"cid"}, "grant_type": {"client_credentials"}, "scope": {"https://graph.microsoft.com/.default"},
		}},
		{"client_credentials_with_claims", ClientCredentialsForm("cid", graph, claims), url.Values{
			"client_id": {"cid"}, "grant_type": {"client_credentials"}, "scope": {"https://graph.microsoft.com/.default"}, "claims": {claims},
		}},
		{"on_behalf_of", OnBehalfOfForm("cid", user, "user-jwt", ""), url.Values{
			"client_id": {"cid"}, "grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"},
			"scope": {"User.Read openid offline_access profile"}, "assertion": {"user-jwt"},
			"requested_token_use": {"on_behalf_of"}, "client_info": {"1"},
		}},
		{"authorization_code", AuthCodeForm("cid", user, "the-code", "http://localhost/cb", "verifier", ""), url.Values{
			"client_id": {"cid"}, "grant_type": {"authorization_code"}, "scope": {"User.Read openid offline_access profile"},
			"code": {"the-code"}, "redirect_uri": {"http://localhost/cb"}, "code_verifier": {"verifier"}, "client_info": {"1"},
		}},
		{"authorization_code_without_pkce", AuthCodeForm("cid", user, "the-code", "", "", ""), url.Values{
			"client_id": {"cid"}, "grant_type": {"authorization_code"}, "scope": {"User.Read openid offline_access profile"},
			"code": {"the-code"}, "client_info": {"1"},
		}},
		{"refresh_token", RefreshTokenForm("cid", user, "rt", claims), url.Values{
			"client_id": {"cid"}, "grant_type": {"refresh_token"}, "scope": {"User.Read openid offline_access profile"},
			"refresh_token": {"rt"}, "client_info": {"1"}, "claims": {claims},
		}},
		{"password", PasswordForm("cid", user, "ann@contoso.com", "pw", ""), url.Values{
			"client_id": {"cid"}, "grant_type": {"password"}, "scope": {"User.Read openid offline_access profile"},
			"username": {"ann@contoso.com"}, "password": {"pw"}, "client_info": {"1"},
		}},
		{"device_authorization", DeviceAuthorizationForm("cid", user, ""), url.Values{
			"client_id": {"cid"}, "scope": {"User.Read openid offline_access profile"},
		}},
		{"device_code", DeviceCodeForm("cid", user, "dc", ""), url.Values{
			"client_id": {"cid"}, "grant_type": {"urn:ietf:params:oauth:grant-type:device_code"},
			"scope": {"User.Read openid offline_access profile"}, "device_code": {"dc"}, "client_info": {"1"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Errorf("form =\n%v\nwant\n%v", tt.got, tt.want)
			}
		})
	}
}

func TestUserScopes(t *testing.T) {
	tests := []struct {
		name           string
		scopes, exclue []string
		want           string
	}{
		{"adds_reserved", []string{"User.Read"}, nil, "User.Read openid offline_access profile"},
		{"no_duplicates", []string{"User.Read", "OpenID", " ", "User.Read", "profile"}, nil, "User.Read OpenID profile offline_access"},
		{"exclude", []string{"User.Read"}, []string{"offline_access"}, "User.Read openid profile"},
		{"nothing_asked", nil, nil, "openid offline_access profile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := strings.Join(UserScopes(tt.scopes, tt.exclue), " "); got != tt.want {
				t.Errorf("UserScopes = %q, want %q", got, tt.want)
			}
		})
	}
	if got := AppScopes([]string{"a", " a ", "", "b"}); strings.Join(got, " ") != "a b" {
		t.Errorf("AppScopes = %q", got)
	}
}
