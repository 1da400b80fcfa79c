package cache

import (
	"strings"
	"testing"
	"time"
)

func TestKeys(t *testing.T) {
	tests := []struct {
		name, got, want string
	}{
		{"access token, bearer (MSAL Go and Python agree)",
			AccessToken{HomeAccountID: "uid.utid", Environment: "login.windows.net", CredentialType: "AccessToken", ClientID: "My_Client", Realm: "Contoso", Target: "s2 S1"}.Key(),
			"uid.utid-login.windows.net-accesstoken-my_client-contoso-s2 s1"},
		{"access token, explicit Bearer type is not in the key",
			AccessToken{HomeAccountID: "h", Environment: "e", CredentialType: "AccessToken", ClientID: "c", Realm: "r", Target: "s", TokenType: "Bearer"}.Key(),
			"h-e-accesstoken-c-r-s"},
		{"access token, pop type is appended (MSAL Go)",
			AccessToken{HomeAccountID: "h", Environment: "e", CredentialType: "AccessToken", ClientID: "c", Realm: "r", Target: "s", TokenType: "PoP"}.Key(),
			"h-e-accesstoken-c-r-s-pop"},
		{"app token has an empty home account ID",
			AccessToken{Environment: "login.windows.net", CredentialType: "AccessToken", ClientID: "c", Realm: "t", Target: "https://graph.microsoft.com/.default"}.Key(),
			"-login.windows.net-accesstoken-c-t-https://graph.microsoft.com/.default"},
		{"access token without credential type",
			AccessToken{HomeAccountID: "h", Environment: "e", ClientID: "c", Realm: "r", Target: "s"}.Key(),
			"h-e-accesstoken-c-r-s"},
		{"refresh token by client",
			RefreshToken{HomeAccountID: "uid.utid", Environment: "login.windows.net", CredentialType: "RefreshToken", ClientID: "my_client_id"}.Key(),
			"uid.utid-login.windows.net-refreshtoken-my_client_id"},
		{"refresh token by family",
			RefreshToken{HomeAccountID: "h", Environment: "e", CredentialType: "RefreshToken", ClientID: "c", FamilyID: "1"}.Key(),
			"h-e-refreshtoken-1"},
		{"ID token (MSAL Go: no trailing dash)",
			IDToken{HomeAccountID: "uid.utid", Environment: "login.windows.net", CredentialType: "IDToken", ClientID: "my_client_id", Realm: "contoso"}.Key(),
			"uid.utid-login.windows.net-idtoken-my_client_id-contoso"},
		{"account",
			Account{HomeAccountID: "uid.utid", Environment: "login.windows.net", Realm: "Contoso"}.Key(),
			"uid.utid-login.windows.net-contoso"},
		{"app metadata",
			AppMetadata{Environment: "login.windows.net", ClientID: "My_Client"}.Key(),
			"appmetadata-login.windows.net-my_client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("key = %q, want %q", tt.got, tt.want)
			}
		})
	}
}

func TestAssertionHash(t *testing.T) {
	// Reference values: base64.urlsafe_b64encode(hashlib.sha256(s).digest()),
	// what MSAL Go's AuthParams.AssertionHash computes.
	tests := map[string]string{
		"assertion": "fFsdSeaHX9iH_VIhI8SzQWnUzBGmUCzATLfrj3wWaXI=",
		"eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiJ1c2VyIn0.c2ln": "O4KLktHdmI4p6x-hOytVgOoBY_KP-ZUwF5v_9Vss4y0=",
	}
	for in, want := range tests {
		if got := AssertionHash(in); got != want {
			t.Errorf("AssertionHash(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPartitions(t *testing.T) {
	tests := []struct {
		name, got, want string
	}{
		{"app", AppPartition("client", "tenant"), "client_tenant_AppTokenCache"},
		{"app without tenant", AppPartition("client", ""), "client__AppTokenCache"},
		{"user", UserPartition("uid.utid"), "uid.utid"},
		{"access token of an app", AccessToken{ClientID: "c", Realm: "t"}.Partition(), "c_t_AppTokenCache"},
		{"access token of a user", AccessToken{ClientID: "c", Realm: "t", HomeAccountID: "h"}.Partition(), "h"},
		{"on-behalf-of access token", AccessToken{ClientID: "c", Realm: "t", HomeAccountID: "h", UserAssertionHash: "x"}.Partition(), "x"},
		{"refresh token", RefreshToken{HomeAccountID: "h", ClientID: "c"}.Partition(), "h"},
		{"on-behalf-of ID token", IDToken{HomeAccountID: "h", UserAssertionHash: "x"}.Partition(), "x"},
		{"account", Account{HomeAccountID: "h"}.Partition(), "h"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("partition = %q, want %q", tt.got, tt.want)
			}
		})
	}
}

func TestParsePartitionName(t *testing.T) {
	tests := []struct {
		name string
		want partID
	}{
		{"c_t_AppTokenCache", partID{kind: kindApp, a: "c", b: "t"}},
		{"my_client_t_AppTokenCache", partID{kind: kindApp, a: "my_client", b: "t"}},
		{"c__AppTokenCache", partID{kind: kindApp, a: "c"}},
		{AssertionHash("a"), partID{kind: kindOBO, a: AssertionHash("a")}},
		{"uid.utid", partID{kind: kindUser, a: "uid.utid"}},
		{"x_AppTokenCache", partID{kind: kindUser, a: "x_AppTokenCache"}},
	}
	for _, tt := range tests {
		if got := parsePartitionName(tt.name); got != tt.want {
			t.Errorf("parsePartitionName(%q) = %+v, want %+v", tt.name, got, tt.want)
		}
		if tt.want.kind != kindUser || tt.name == "uid.utid" {
			if back := partitionName(tt.want); back != tt.name {
				t.Errorf("partitionName(%+v) = %q, want %q", tt.want, back, tt.name)
			}
		}
	}
}

func TestAccessTokenUsable(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	tests := []struct {
		name     string
		lifetime time.Duration // ExpiresOn - CachedAt
		at       time.Duration // now - CachedAt
		want     bool
	}{
		{"1 h token, just before the 5 min margin", time.Hour, 55*time.Minute - time.Nanosecond, true},
		{"1 h token, at the 5 min margin", time.Hour, 55 * time.Minute, false},
		{"1 h token, inside the margin", time.Hour, 58 * time.Minute, false},
		{"10 min token, margin is lifetime/10 = 60 s, just before", 10 * time.Minute, 9*time.Minute - time.Nanosecond, true},
		{"10 min token, at lifetime/10", 10 * time.Minute, 9 * time.Minute, false},
		{"50 min token, lifetime/10 = 5 min exactly", 50 * time.Minute, 45 * time.Minute, false},
		{"50 min token, just before", 50 * time.Minute, 45*time.Minute - time.Nanosecond, true},
		{"25 s token, margin 2.5 s", 25 * time.Second, 22*time.Second + 499*time.Millisecond, true},
		{"25 s token, at 22.5 s", 25 * time.Second, 22*time.Second + 500*time.Millisecond, false},
		{"fresh token", time.Hour, 0, true},
		{"expired", time.Hour, 2 * time.Hour, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := AccessToken{CachedAt: t0, ExpiresOn: t0.Add(tt.lifetime)}
			if got := tok.Usable(t0.Add(tt.at)); got != tt.want {
				t.Errorf("Usable = %v, want %v", got, tt.want)
			}
		})
	}
	t.Run("unknown cached_at means a 5 min margin", func(t *testing.T) {
		tok := AccessToken{ExpiresOn: t0.Add(time.Hour)}
		if !tok.Usable(t0.Add(55*time.Minute-time.Second)) || tok.Usable(t0.Add(55*time.Minute)) {
			t.Error("margin is not 5 min")
		}
	})
	t.Run("no expiry is never usable", func(t *testing.T) {
		if (AccessToken{CachedAt: t0}).Usable(t0) {
			t.Error("usable")
		}
	})
}

func TestTargetCovers(t *testing.T) {
	tests := []struct {
		name string
		have string
		want []string
		fold bool
		ok   bool
	}{
		{"same set", "a b", []string{"a", "b"}, false, true},
		{"subset asked", "a b c", []string{"c", "a"}, false, true},
		{"superset asked", "a", []string{"a", "b"}, false, false},
		{"disjoint", "a", []string{"b"}, true, false},
		{"case differs, Entra folds", "User.Read Mail.Send", []string{"user.read"}, true, true},
		{"case differs, exact rule", "User.Read", []string{"user.read"}, false, false},
		{"OIDC scopes ignored when cached without them", "User.Read", []string{"openid", "User.Read", "offline_access", "profile"}, false, true},
		{"OIDC scopes ignored, folded", "user.read", []string{"OpenID", "User.Read"}, true, true},
		{"only OIDC scopes asked, not cached", "User.Read", []string{"openid"}, false, false},
		{"only OIDC scopes asked, cached", "openid profile", []string{"openid", "profile"}, false, true},
		{"no scope asked matches nothing", "a", nil, false, false},
		{"empty scope strings ignored", "a", []string{"", "a"}, false, true},
		{"only empty scope strings", "a", []string{""}, false, false},
		{".default URL scope", "https://graph.microsoft.com/.default", []string{"https://graph.microsoft.com/.default"}, true, true},
		{"extra spaces in the target", "  a   b ", []string{"b", "a"}, false, true},
		{"prefix of a cached scope is not it", "User.ReadWrite", []string{"User.Read"}, true, false},
		{"cached scope is a prefix of the asked one", "User.Read", []string{"User.ReadWrite"}, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := targetCovers(tt.have, tt.want, tt.fold); got != tt.ok {
				t.Errorf("targetCovers(%q, %q, fold=%v) = %v, want %v", tt.have, tt.want, tt.fold, got, tt.ok)
			}
		})
	}
}

func TestTargetsIntersect(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"a b", "b c", true},
		{"a", "c", false},
		{"User.Read", "user.read", true},
		{"", "a", false},
		{"  a  b ", "b", true},
		{"a b", " ", false},
	}
	for _, tt := range tests {
		if got := targetsIntersect(tt.a, tt.b); got != tt.want {
			t.Errorf("targetsIntersect(%q, %q) = %v", tt.a, tt.b, got)
		}
	}
}

func TestEqualFold(t *testing.T) {
	pairs := []string{"a", "A", "z", "Z", "@", "`", "[", "{", "0", "é", "É", "K", "\u212a", "ß", "s", "~", "^"}
	for _, a := range pairs {
		for _, b := range pairs {
			for _, prefix := range []string{"", "User.", "USER."} {
				x, y := prefix+a, "user."[:len(prefix)]+b
				if len(x) != len(y) {
					continue
				}
				if got, want := equalFold(x, y), strings.EqualFold(x, y); got != want {
					t.Errorf("equalFold(%q, %q) = %v, want %v", x, y, got, want)
				}
			}
		}
	}
}
