package entra

import "testing"

func TestLookupMergesAliases(t *testing.T) {
	tests := []struct{ host, wantCache string }{
		{"login.microsoftonline.com", "login.windows.net"},
		{"LOGIN.MICROSOFT.COM", "login.windows.net"},
		{"sts.windows.net", "login.windows.net"},
		{"login.chinacloudapi.cn", "login.partner.microsoftonline.cn"},
		{"login.usgovcloudapi.net", "login.microsoftonline.us"},
	}
	for _, tt := range tests {
		if c, ok := Lookup(tt.host); !ok || c.PreferredCache != tt.wantCache {
			t.Errorf("Lookup(%q) = %+v, %v; want the cloud cached as %q", tt.host, c, ok, tt.wantCache)
		}
	}
	if c, ok := Lookup("Example.COM"); ok {
		t.Errorf("Lookup of an unknown host found %+v", c)
	}
}

func TestRegionalHost(t *testing.T) {
	tests := []struct{ host, region, want string }{
		{"login.microsoftonline.com", "westus2", "westus2.login.microsoft.com"},
		{"login.windows.net", "WestUS2", "westus2.login.microsoft.com"},
		{"login.microsoftonline.us", "usgovvirginia", "usgovvirginia.login.microsoftonline.us"},
		{"login.chinacloudapi.cn", "chinanorth", "chinanorth.login.chinacloudapi.cn"},
	}
	for _, tt := range tests {
		if got := RegionalHost(tt.host, tt.region); got != tt.want {
			t.Errorf("RegionalHost(%q, %q) = %q, want %q", tt.host, tt.region, got, tt.want)
		}
	}
}

func TestIsKnown(t *testing.T) {
	if !IsKnown("login.microsoftonline.com") || IsKnown("login.example.com") {
		t.Fatal("IsKnown disagrees with the table")
	}
}
