package bearer

import (
	"fmt"
	"net/netip"
	"strings"
)

// graphHost is where bare scopes such as "User.Read" belong.
const graphHost = "graph.microsoft.com"

// graphAppID is Microsoft Graph's application ID, which may stand for its
// host in a scope ("00000003-0000-0000-c000-000000000000/.default").
const graphAppID = "00000003-0000-0000-c000-000000000000"

// azureResourceHosts maps the host of an Azure resource's scope to the
// API hosts that accept its tokens when they are not the scope's host or
// its subdomains (which are always allowed). Entries are exact host names
// or "*.suffix" (subdomains only).
//
// Sources:
//   - Storage: one audience, https://storage.azure.com, for every cloud
//     (learn.microsoft.com/rest/api/storageservices/authorize-with-azure-active-directory);
//     account hosts per cloud: core.windows.net, core.chinacloudapi.cn,
//     core.usgovcloudapi.net (learn.microsoft.com/azure/azure-government/compare-azure-government-global-azure,
//     Azure PowerShell's environment table: StorageEndpointSuffix).
//   - Service Bus and Event Hubs: audiences https://servicebus.azure.net and
//     https://eventhubs.azure.net, "the same for all clouds and tenants"
//     (learn.microsoft.com/azure/event-hubs/authorize-access-azure-active-directory;
//     docs.azure.cn writes https://eventhubs.chinacloudapi.cn for China),
//     namespaces under servicebus.windows.net, servicebus.chinacloudapi.cn,
//     servicebus.usgovcloudapi.net (same pages, Azure Government comparison).
//   - Cognitive Services and Azure OpenAI: audience
//     https://cognitiveservices.azure.com (.us, .cn in the sovereign
//     clouds), resources under cognitiveservices.azure.* and
//     openai.azure.* (learn.microsoft.com/azure/ai-services/openai/how-to/managed-identity,
//     Azure Government comparison).
//   - Azure Resource Manager's classic audience
//     https://management.core.windows.net/ (and its sovereign twins) serves
//     management.azure.com (management.chinacloudapi.cn,
//     management.usgovcloudapi.net), as Azure CLI and PowerShell use it
//     (their cloud tables: activeDirectoryResourceId, resourceManager).
//
// Key Vault (vault.azure.net, vault.azure.cn, vault.usgovcloudapi.net →
// *.vault.…) and SQL (database.windows.net, database.chinacloudapi.cn,
// database.usgovcloudapi.net → *.database.…) need no entry: their API hosts
// are subdomains of the scope's host.
var azureResourceHosts = map[string][]string{
	"storage.azure.com": {
		"*.blob.core.windows.net", "*.queue.core.windows.net", "*.table.core.windows.net",
		"*.file.core.windows.net", "*.dfs.core.windows.net",
		"*.blob.core.chinacloudapi.cn", "*.queue.core.chinacloudapi.cn", "*.table.core.chinacloudapi.cn",
		"*.file.core.chinacloudapi.cn", "*.dfs.core.chinacloudapi.cn",
		"*.blob.core.usgovcloudapi.net", "*.queue.core.usgovcloudapi.net", "*.table.core.usgovcloudapi.net",
		"*.file.core.usgovcloudapi.net", "*.dfs.core.usgovcloudapi.net",
	},
	"servicebus.azure.net":       serviceBusHosts,
	"eventhubs.azure.net":        serviceBusHosts,
	"eventhubs.chinacloudapi.cn": {"*.servicebus.chinacloudapi.cn"},

	"cognitiveservices.azure.com": {"*.openai.azure.com"},
	"cognitiveservices.azure.us":  {"*.openai.azure.us"},
	"cognitiveservices.azure.cn":  {"*.openai.azure.cn"},

	"management.core.windows.net":       {"management.azure.com"},
	"management.core.chinacloudapi.cn":  {"management.chinacloudapi.cn"},
	"management.core.usgovcloudapi.net": {"management.usgovcloudapi.net"},
}

var serviceBusHosts = []string{"*.servicebus.windows.net", "*.servicebus.chinacloudapi.cn", "*.servicebus.usgovcloudapi.net"}

// hostSet is a set of allowed hosts. Names are lower-case ASCII without a
// trailing dot.
type hostSet struct {
	exact  []string // the host itself
	suffix []string // ".suffix": subdomains only
}

func (h *hostSet) empty() bool { return len(h.exact) == 0 && len(h.suffix) == 0 }

func (h *hostSet) addExact(host string) {
	for _, e := range h.exact {
		if e == host {
			return
		}
	}
	h.exact = append(h.exact, host)
}

func (h *hostSet) addSuffix(suffix string) {
	for _, s := range h.suffix {
		if s == suffix {
			return
		}
	}
	h.suffix = append(h.suffix, suffix)
}

// add adds a trusted pattern: "host" or "*.suffix".
func (h *hostSet) add(pattern string) {
	if rest, ok := strings.CutPrefix(pattern, "*."); ok {
		h.addSuffix("." + rest)
		return
	}
	h.addExact(pattern)
}

// allows reports whether host (a URL's host name, without port or
// brackets) is in the set. It does not allocate.
func (h *hostSet) allows(host string) bool {
	if n := len(host); n > 1 && host[n-1] == '.' {
		host = host[:n-1]
	}
	if host == "" {
		return false
	}
	for _, e := range h.exact {
		if host == e || asciiEqualFold(host, e) {
			return true
		}
	}
	for _, s := range h.suffix {
		if len(host) > len(s) {
			tail := host[len(host)-len(s):]
			if tail == s || asciiEqualFold(tail, s) {
				return true
			}
		}
	}
	return false
}

// asciiEqualFold is strings.EqualFold for ASCII only: bytes outside ASCII
// must match exactly, so no Unicode folding (such as the Kelvin sign to
// 'k') can make a foreign host equal an allowed one.
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// scopeHosts returns the default allowed hosts for scopes: each https
// scope's host and its subdomains, the Azure API hosts of known resource
// scopes, and Microsoft Graph for bare scopes.
func scopeHosts(scopes []string) hostSet {
	var h hostSet
	for _, s := range scopes {
		if i := strings.Index(s, "://"); i >= 0 {
			if !asciiEqualFold(s[:i], "https") {
				continue // api://…, http://…: no host
			}
			host := hostOfAuthority(s[i+3:])
			if host == "" {
				continue
			}
			h.addExact(host)
			h.addSuffix("." + host)
			for _, p := range azureResourceHosts[host] {
				h.add(p)
			}
			continue
		}
		if !strings.Contains(s, "/") {
			if s != "" {
				h.addExact(graphHost) // User.Read, offline_access, openid…
			}
			continue
		}
		if app, _, _ := strings.Cut(s, "/"); asciiEqualFold(app, graphAppID) {
			h.addExact(graphHost)
		}
		// Other "<app ID>/scope" forms name no host.
	}
	return h
}

// hostOfAuthority returns the lower-case host of the part of a URL after
// "://": up to the path, query or fragment, without userinfo, port,
// brackets or trailing dot.
func hostOfAuthority(a string) string {
	if i := strings.IndexAny(a, "/?#"); i >= 0 {
		a = a[:i]
	}
	if i := strings.LastIndexByte(a, '@'); i >= 0 {
		a = a[i+1:]
	}
	return strings.TrimSuffix(strings.ToLower(hostname(a)), ".")
}

// hostname returns hostport without its port and IPv6 brackets, as
// url.URL.Hostname does.
func hostname(hostport string) string {
	if strings.HasPrefix(hostport, "[") {
		if i := strings.IndexByte(hostport, ']'); i > 0 {
			return hostport[1:i]
		}
		return hostport[1:]
	}
	if i := strings.IndexByte(hostport, ':'); i >= 0 {
		return hostport[:i]
	}
	return hostport
}

// parseAllowedHosts reads Transport.AllowedHosts.
func parseAllowedHosts(entries []string) (hostSet, error) {
	var h hostSet
	for _, e := range entries {
		p, err := allowedHostPattern(e)
		if err != nil {
			return hostSet{}, err
		}
		h.add(p)
	}
	return h, nil
}

// allowedHostPattern checks one AllowedHosts entry and returns it
// normalised.
func allowedHostPattern(e string) (string, error) {
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("bearer: Transport.AllowedHosts entry %q: %s; want a host name, an IP address or \"*.suffix\"", e, why)
	}
	s := strings.ToLower(strings.TrimSuffix(e, "."))
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		s = s[1 : len(s)-1]
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.String(), nil
	}
	name := s
	if rest, ok := strings.CutPrefix(s, "*."); ok {
		name = rest
	}
	switch {
	case s == "":
		return bad("empty")
	case strings.Contains(s, "://"):
		return bad("a URL")
	case name == "" || name == "*":
		return bad("matches every host")
	case strings.Contains(name, "*"):
		return bad("'*' is allowed only as a leading \"*.\"")
	case strings.Contains(s, ":"):
		return bad("has a port")
	case strings.HasPrefix(name, ".") || strings.Contains(name, ".."):
		return bad("has an empty label")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_') {
			return bad(fmt.Sprintf("has the character %q", c))
		}
	}
	if name != s {
		return "*." + name, nil
	}
	return name, nil
}

// isLoopback reports whether host (without port or brackets) is
// "localhost" or a loopback IP address (127.0.0.0/8, ::1).
func isLoopback(host string) bool {
	host = strings.TrimSuffix(host, ".")
	if asciiEqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}
