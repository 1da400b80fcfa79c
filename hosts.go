package bearer

import (
	"fmt"
	"net/netip"
	"strconv"
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
	exact  []string   // the host itself, on any port
	suffix []string   // ".suffix": subdomains only, on any port
	ported []portRule // a host or ".suffix" on one port only
}

// portRule allows a host (or the subdomains of a suffix) on one port.
type portRule struct {
	name string // host, or ".suffix"
	port string // decimal, no leading zeros
}

func (h *hostSet) empty() bool { return len(h.exact) == 0 && len(h.suffix) == 0 && len(h.ported) == 0 }

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
// brackets) is in the set on every port. It does not allocate.
func (h *hostSet) allows(host string) bool {
	host = trimDot(host)
	if host == "" {
		return false
	}
	for _, e := range h.exact {
		if host == e || asciiEqualFold(host, e) {
			return true
		}
	}
	for _, s := range h.suffix {
		if hasSuffixFold(host, s) {
			return true
		}
	}
	return false
}

// allowsOn reports whether host is in the set on port (decimal, as a URL
// writes it; the scheme's default port when the URL names none). It does
// not allocate.
func (h *hostSet) allowsOn(host, port string) bool {
	if h.allows(host) {
		return true
	}
	if len(h.ported) == 0 {
		return false
	}
	host = trimDot(host)
	if port = strings.TrimLeft(port, "0"); host == "" || port == "" {
		return false
	}
	for _, r := range h.ported {
		if r.port != port {
			continue
		}
		if r.name[0] == '.' {
			if hasSuffixFold(host, r.name) {
				return true
			}
		} else if host == r.name || asciiEqualFold(host, r.name) {
			return true
		}
	}
	return false
}

// trimDot removes one trailing dot from a host name longer than it.
func trimDot(host string) string {
	if n := len(host); n > 1 && host[n-1] == '.' {
		return host[:n-1]
	}
	return host
}

// hasSuffixFold reports whether host ends in s (".suffix") with at least
// one more byte before it, ASCII case-insensitively.
func hasSuffixFold(host, s string) bool {
	if len(host) <= len(s) {
		return false
	}
	tail := host[len(host)-len(s):]
	return tail == s || asciiEqualFold(tail, s)
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

// portOf returns the port of hostport ("host:port", "[v6]:port"), or "".
func portOf(hostport string) string {
	if strings.HasPrefix(hostport, "[") {
		i := strings.IndexByte(hostport, ']')
		if i < 0 || !strings.HasPrefix(hostport[i+1:], ":") {
			return ""
		}
		return hostport[i+2:]
	}
	if i := strings.IndexByte(hostport, ':'); i >= 0 {
		return hostport[i+1:]
	}
	return ""
}

// parseAllowedHosts reads Transport.AllowedHosts.
func parseAllowedHosts(entries []string) (hostSet, error) {
	var h hostSet
	for _, e := range entries {
		p, port, err := allowedHostPattern(e)
		if err != nil {
			return hostSet{}, err
		}
		if port == "" {
			h.add(p)
			continue
		}
		r := portRule{name: p, port: port}
		if rest, ok := strings.CutPrefix(p, "*."); ok {
			r.name = "." + rest
		}
		h.addPorted(r)
	}
	return h, nil
}

func (h *hostSet) addPorted(r portRule) {
	for _, o := range h.ported {
		if o == r {
			return
		}
	}
	h.ported = append(h.ported, r)
}

// allowedHostPattern checks one AllowedHosts entry and returns it
// normalised: the host pattern, and its port ("" for every port).
func allowedHostPattern(e string) (pattern, port string, err error) {
	bad := func(why string) (string, string, error) {
		return "", "", fmt.Errorf("bearer: Transport.AllowedHosts entry %q: %s; want a host name, an IP address or \"*.suffix\", optionally with \":port\" (\"[IPv6]:port\")", e, why)
	}
	s := strings.ToLower(e)
	switch {
	case strings.Contains(s, "://"):
		return bad("a URL")
	case strings.HasPrefix(s, "["):
		// "[IPv6]" or "[IPv6]:port".
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return bad("has '[' without ']'")
		}
		if rest := s[end+1:]; rest != "" {
			p, ok := strings.CutPrefix(rest, ":")
			if !ok {
				return bad("has something other than a port after ']'")
			}
			if port, ok = normalPort(p); !ok {
				return bad(fmt.Sprintf("has the port %q, not a number from 1 to 65535", clip(p)))
			}
		}
		a, err := netip.ParseAddr(s[1:end])
		if err != nil || !a.Is6() {
			return bad("brackets are only for IPv6 addresses")
		}
		return a.String(), port, nil
	case strings.Count(s, ":") > 1:
		// An IPv6 address without brackets, so without a port.
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is6() {
			return bad("has colons but is not an IPv6 address (an IPv6 address with a port is written \"[addr]:port\")")
		}
		return a.String(), "", nil
	case strings.Contains(s, ":"):
		h, p, _ := strings.Cut(s, ":")
		var ok bool
		if port, ok = normalPort(p); !ok {
			return bad(fmt.Sprintf("has the port %q, not a number from 1 to 65535", clip(p)))
		}
		s = h
	}
	s = strings.TrimSuffix(s, ".")
	if a, err := netip.ParseAddr(s); err == nil {
		return a.String(), port, nil
	}
	name := s
	if rest, ok := strings.CutPrefix(s, "*."); ok {
		name = rest
	}
	switch {
	case s == "":
		return bad("empty")
	case name == "" || name == "*":
		return bad("matches every host")
	case strings.Contains(name, "*"):
		return bad("'*' is allowed only as a leading \"*.\"")
	case strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") || strings.Contains(name, ".."):
		return bad("has an empty label")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_') {
			return bad(fmt.Sprintf("has the character %q", c))
		}
	}
	if name != s {
		return "*." + name, port, nil
	}
	return name, port, nil
}

// normalPort returns p, a decimal port from 1 to 65535, without leading
// zeros.
func normalPort(p string) (string, bool) {
	if p == "" || len(p) > 5 || strings.Trim(p, "0123456789") != "" {
		return "", false
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 {
		return "", false
	}
	return strconv.Itoa(n), true
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
