package entra

import "testing"

func TestCacheEnvironmentMergesAliases(t *testing.T) {
	tests := []struct{ host, want string }{
		{"login.microsoftonline.com", "login.windows.net"},
		{"LOGIN.MICROSOFT.COM", "login.windows.net"},
		{"sts.windows.net", "login.windows.net"},
		{"login.chinacloudapi.cn", "login.partner.microsoftonline.cn"},
		{"login.usgovcloudapi.net", "login.microsoftonline.us"},
		{"Example.COM", "example.com"},
	}
	for _, tt := range tests {
		if got := CacheEnvironment(tt.host); got != tt.want {
			t.Errorf("CacheEnvironment(%q) = %q, want %q", tt.host, got, tt.want)
		}
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
