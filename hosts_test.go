package bearer

import (
	"strings"
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

func TestAllowedHostsEntriesWithPort(t *testing.T) {
	type hp struct{ host, port string }
	tests := []struct {
		name    string
		entries []string
		allowed []hp
		denied  []hp
	}{
		{"IPv4 with a port is that port only", []string{"127.0.0.1:8443"},
			[]hp{{"127.0.0.1", "8443"}, {"127.0.0.1", "08443"}}, []hp{{"127.0.0.1", "443"}, {"127.0.0.1", "80"}, {"127.0.0.2", "8443"}, {"127.0.0.1", ""}}},
		{"IPv6 with a port", []string{"[::1]:8443"},
			[]hp{{"::1", "8443"}}, []hp{{"::1", "443"}, {"::2", "8443"}}},
		{"IPv6 written in full", []string{"[0:0:0:0:0:0:0:1]:8443"},
			[]hp{{"::1", "8443"}}, nil},
		{"name with a port", []string{"Api.Example.com.:8443"},
			[]hp{{"api.example.com", "8443"}, {"API.EXAMPLE.COM.", "8443"}}, []hp{{"api.example.com", "443"}, {"x.api.example.com", "8443"}}},
		{"default port written out", []string{"example.com:443"},
			[]hp{{"example.com", "443"}}, []hp{{"example.com", "80"}, {"example.com", "8443"}}},
		{"suffix with a port", []string{"*.example.com:8443"},
			[]hp{{"a.example.com", "8443"}, {"a.b.example.com", "8443"}}, []hp{{"example.com", "8443"}, {"a.example.com", "443"}, {"badexample.com", "8443"}}},
		{"an entry without a port allows every port", []string{"example.com", "example.net:8443"},
			[]hp{{"example.com", "1"}, {"example.com", "443"}, {"example.net", "8443"}}, []hp{{"example.net", "443"}}},
		{"no Unicode folding", []string{"kelvin.example:8443"},
			[]hp{{"KELVIN.example", "8443"}}, []hp{{"\u212aelvin.example", "8443"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := parseAllowedHosts(tt.entries)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range tt.allowed {
				if !h.allowsOn(a.host, a.port) {
					t.Errorf("%q on port %q not allowed", a.host, a.port)
				}
			}
			for _, d := range tt.denied {
				if h.allowsOn(d.host, d.port) {
					t.Errorf("%q on port %q allowed", d.host, d.port)
				}
			}
		})
	}
}

func TestAllowedHostsEntryErrors(t *testing.T) {
	tests := []struct {
		entry string
		why   string // in the error
	}{
		{"", "empty"},
		{":443", "empty"},
		{"*", "every host"},
		{"*.:443", "every host"},
		{"*:8443", "every host"},
		{"https://example.com", "a URL"},
		{"https://example.com:443", "a URL"},
		{"example.com:", "port"},
		{"example.com:0", "port"},
		{"example.com:65536", "port"},
		{"example.com:100000", "port"},
		{"example.com:https", "port"},
		{"example.com:+80", "port"},
		{"example.com:-1", "port"},
		{"example.com: 80", "port"},
		{"example.com:80:90", "not an IPv6 address"},
		{"[::1]:", "port"},
		{"[::1]:0", "port"},
		{"[::1]x", "other than a port"},
		{"[::1]8443", "other than a port"},
		{"[::1", "without ']'"},
		{"[example.com]:443", "only for IPv6"},
		{"[127.0.0.1]:80", "only for IPv6"},
		{"[]:80", "only for IPv6"},
		{"::1:8443:x", "not an IPv6 address"},
		{"*.*.example.com:80", "leading"},
		{"exa mple.com:80", "character"},
		{"*..com:80", "empty label"},
		{"example.com..", "empty label"},
	}
	for _, tt := range tests {
		t.Run(tt.entry, func(t *testing.T) {
			_, err := parseAllowedHosts([]string{tt.entry})
			if err == nil {
				t.Fatalf("entry %q accepted", tt.entry)
			}
			if !strings.Contains(err.Error(), tt.why) {
				t.Errorf("error %q does not say %q", err, tt.why)
			}
		})
	}
}

// FuzzAllowedHostPattern checks that any entry is either refused or
// normalised to an entry that reads back to itself.
func FuzzAllowedHostPattern(f *testing.F) {
	for _, s := range []string{"example.com", "*.example.com", "127.0.0.1:8443", "[::1]:8443", "::1", "[::1]", "Example.COM.:0443",
		"*.example.com:8443", "example.com:", "[example.com]:1", "https://x", "::1:80", "*", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, e string) {
		p, port, err := allowedHostPattern(e)
		if err != nil {
			return
		}
		again := p
		if port != "" {
			if strings.Contains(p, ":") {
				again = "[" + p + "]"
			}
			again += ":" + port
		}
		p2, port2, err := allowedHostPattern(again)
		if err != nil || p2 != p || port2 != port {
			t.Errorf("%q: normalised to %q port %q, which reads back as %q port %q (%v)", e, p, port, p2, port2, err)
		}
		if h, err := parseAllowedHosts([]string{e}); err != nil || h.empty() {
			t.Errorf("%q: accepted by allowedHostPattern, not by parseAllowedHosts: %v", e, err)
		}
	})
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
	ported, err := parseAllowedHosts([]string{"example.com", "127.0.0.1:8443", "*.example.net:8443"})
	if err != nil {
		t.Fatal(err)
	}
	allocs = testing.AllocsPerRun(1000, func() {
		if !ported.allowsOn("a.example.net", "8443") || ported.allowsOn("a.example.net", "443") || !ported.allowsOn("example.com", "1") {
			t.Fatal("wrong answer")
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per host and port check", allocs)
	}
}
