package bearer

import (
	"testing"
)

func TestDefaultAllowedHosts(t *testing.T) {
	tests := []struct {
		name    string
		scopes  []string
		allowed []string
		denied  []string
	}{
		{"https scope: its host and subdomains",
			[]string{"https://graph.microsoft.com/.default"},
			[]string{"graph.microsoft.com", "GRAPH.Microsoft.com", "graph.microsoft.com.", "canary.graph.microsoft.com"},
			[]string{"microsoft.com", "evilgraph.microsoft.com", "graph.microsoft.com.evil.com", "graph.microsoft.co", "", "."}},
		{"bare scopes belong to Graph",
			[]string{"User.Read", "offline_access"},
			[]string{"graph.microsoft.com"},
			[]string{"sub.graph.microsoft.com", "login.microsoftonline.com"}},
		{"Graph's application ID stands for Graph",
			[]string{"00000003-0000-0000-c000-000000000000/.default"},
			[]string{"graph.microsoft.com"}, nil},
		{"api:// and other app ID scopes name no host",
			[]string{"api://my-api/.default", "11111111-2222-3333-4444-555555555555/.default"},
			nil, []string{"my-api", "graph.microsoft.com"}},
		{"plain http scopes name no host",
			[]string{"http://example.com/.default"},
			nil, []string{"example.com"}},
		{"scope with port, userinfo and query",
			[]string{"https://user@api.example.com:8443/x/.default?y#z"},
			[]string{"api.example.com", "a.api.example.com"}, []string{"user", "example.com"}},
		{"scheme in capitals",
			[]string{"HTTPS://Api.Example.com/.default"},
			[]string{"api.example.com"}, nil},
		{"Storage",
			[]string{"https://storage.azure.com/.default"},
			[]string{"storage.azure.com", "acct.blob.core.windows.net", "acct.queue.core.windows.net", "acct.table.core.windows.net",
				"acct.file.core.windows.net", "acct.dfs.core.windows.net", "acct.blob.core.chinacloudapi.cn", "acct.dfs.core.usgovcloudapi.net"},
			[]string{"blob.core.windows.net", "acct.web.core.windows.net", "core.windows.net", "acct.vault.azure.net"}},
		{"Key Vault",
			[]string{"https://vault.azure.net/.default"},
			[]string{"myvault.vault.azure.net"}, []string{"myvault.vault.azure.cn", "acct.blob.core.windows.net"}},
		{"Key Vault in Azure China and Azure Government",
			[]string{"https://vault.azure.cn/.default", "https://vault.usgovcloudapi.net/.default"},
			[]string{"myvault.vault.azure.cn", "myvault.vault.usgovcloudapi.net"}, []string{"myvault.vault.azure.net"}},
		{"Service Bus",
			[]string{"https://servicebus.azure.net//.default"},
			[]string{"ns.servicebus.windows.net", "ns.servicebus.chinacloudapi.cn", "ns.servicebus.usgovcloudapi.net"}, []string{"servicebus.windows.net"}},
		{"Event Hubs",
			[]string{"https://eventhubs.azure.net/.default"},
			[]string{"ns.servicebus.windows.net", "ns.servicebus.usgovcloudapi.net"}, nil},
		{"SQL",
			[]string{"https://database.windows.net//.default"},
			[]string{"srv.database.windows.net"}, []string{"srv.database.usgovcloudapi.net"}},
		{"SQL in Azure Government",
			[]string{"https://database.usgovcloudapi.net/.default"},
			[]string{"srv.database.usgovcloudapi.net"}, nil},
		{"Cognitive Services and Azure OpenAI",
			[]string{"https://cognitiveservices.azure.com/.default"},
			[]string{"res.cognitiveservices.azure.com", "res.openai.azure.com"}, []string{"openai.azure.com", "res.openai.azure.us"}},
		{"Azure OpenAI in Azure Government",
			[]string{"https://cognitiveservices.azure.us/.default"},
			[]string{"res.cognitiveservices.azure.us", "res.openai.azure.us"}, []string{"res.openai.azure.com"}},
		{"Azure OpenAI in Azure China",
			[]string{"https://cognitiveservices.azure.cn/.default"},
			[]string{"res.openai.azure.cn"}, nil},
		{"Resource Manager's classic audience",
			[]string{"https://management.core.windows.net//.default"},
			[]string{"management.azure.com", "management.core.windows.net"}, []string{"x.management.azure.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := scopeHosts(tt.scopes)
			for _, host := range tt.allowed {
				if !h.allows(host) {
					t.Errorf("%q not allowed", host)
				}
			}
			for _, host := range tt.denied {
				if h.allows(host) {
					t.Errorf("%q allowed", host)
				}
			}
			if h.empty() != (len(tt.allowed) == 0) {
				t.Errorf("empty() = %v", h.empty())
			}
		})
	}
}

func TestAllowedHostsEntries(t *testing.T) {
	tests := []struct {
		name    string
		entries []string
		allowed []string
		denied  []string
	}{
		{"plain entry is that host exactly", []string{"example.com"}, []string{"example.com", "EXAMPLE.COM"}, []string{"www.example.com", "example.com.au"}},
		{"wildcard entry is subdomains only", []string{"*.example.com"}, []string{"a.example.com", "a.b.example.com"}, []string{"example.com", "badexample.com"}},
		{"both", []string{"example.com", "*.Example.com."}, []string{"example.com", "a.example.com"}, []string{"example.net"}},
		{"IPv4", []string{"127.0.0.1"}, []string{"127.0.0.1"}, []string{"127.0.0.2"}},
		{"IPv6 with brackets", []string{"[::1]"}, []string{"::1"}, []string{"::2"}},
		{"no Unicode folding", []string{"kelvin.example"}, []string{"KELVIN.example"}, []string{"\u212aelvin.example"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := parseAllowedHosts(tt.entries)
			if err != nil {
				t.Fatal(err)
			}
			for _, host := range tt.allowed {
				if !h.allows(host) {
					t.Errorf("%q not allowed", host)
				}
			}
			for _, host := range tt.denied {
				if h.allows(host) {
					t.Errorf("%q allowed", host)
				}
			}
		})
	}
}

func TestIsLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "LOCALHOST": true, "localhost.": true, "127.0.0.1": true, "127.255.0.9": true, "::1": true,
		"::ffff:127.0.0.1": true, "128.0.0.1": false, "localhost.example.com": false, "example.com": false, "": false, "::2": false,
		"evil.localhost": false,
	} {
		if got := isLoopback(host); got != want {
			t.Errorf("isLoopback(%q) = %v", host, got)
		}
	}
}

func TestHostCheckDoesNotAllocate(t *testing.T) {
	h := scopeHosts([]string{"https://storage.azure.com/.default", "https://graph.microsoft.com/.default"})
	allocs := testing.AllocsPerRun(1000, func() {
		if !h.allows("acct.dfs.core.usgovcloudapi.net") || h.allows("example.com") {
			t.Fatal("wrong answer")
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per host check", allocs)
	}
}
