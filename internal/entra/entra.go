// Package entra holds what is known of Microsoft Entra ID's clouds without
// a network round trip: the login hosts of each cloud, their aliases, the
// host MSAL writes into caches, and how regional hosts are named.
//
// It mirrors the instance discovery metadata that Entra serves at
// /common/discovery/instance, so known hosts need no discovery request.
package entra

import "strings"

// Cloud is one Entra cloud's alias group.
type Cloud struct {
	// PreferredNetwork is the host requests go to.
	PreferredNetwork string
	// PreferredCache is the host MSAL libraries write into cache entries
	// as their environment.
	PreferredCache string
	// Aliases are every host name of the cloud, PreferredNetwork first.
	Aliases []string
}

// Clouds are the known clouds, public first, as Entra's instance discovery
// metadata lists them.
var Clouds = []Cloud{
	{"login.microsoftonline.com", "login.windows.net", []string{"login.microsoftonline.com", "login.windows.net", "login.microsoft.com", "sts.windows.net"}},
	{"login.partner.microsoftonline.cn", "login.partner.microsoftonline.cn", []string{"login.partner.microsoftonline.cn", "login.chinacloudapi.cn"}},
	{"login.microsoftonline.de", "login.microsoftonline.de", []string{"login.microsoftonline.de"}},
	{"login.microsoftonline.us", "login.microsoftonline.us", []string{"login.microsoftonline.us", "login.usgovcloudapi.net"}},
	{"login-us.microsoftonline.com", "login-us.microsoftonline.com", []string{"login-us.microsoftonline.com"}},
	{"login.windows-ppe.net", "login.windows-ppe.net", []string{"login.windows-ppe.net", "sts.windows-ppe.net", "login.microsoft-ppe.com"}},
}

var byHost = func() map[string]*Cloud {
	m := make(map[string]*Cloud)
	for i := range Clouds {
		for _, a := range Clouds[i].Aliases {
			m[a] = &Clouds[i]
		}
	}
	return m
}()

// Lookup returns the cloud that host (a host name without port, any case)
// belongs to.
func Lookup(host string) (*Cloud, bool) {
	c, ok := byHost[strings.ToLower(host)]
	return c, ok
}

// IsKnown reports whether host is a login host of a known Entra cloud.
func IsKnown(host string) bool {
	_, ok := Lookup(host)
	return ok
}

// publicRegionalHost is where regional requests for the public cloud go.
const publicRegionalHost = "login.microsoft.com"

// RegionalHost returns the regional host for region: for the public cloud
// "<region>.login.microsoft.com", for other hosts "<region>.<host>", as
// MSAL does.
func RegionalHost(host, region string) string {
	host = strings.ToLower(host)
	if c, ok := Lookup(host); ok && c.PreferredNetwork == "login.microsoftonline.com" {
		host = publicRegionalHost
	}
	return strings.ToLower(region) + "." + host
}
