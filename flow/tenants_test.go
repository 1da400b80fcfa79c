package flow

import (
	"strings"
	"testing"

	"github.com/bearerhttp/bearer/authtest"
)

// TestIssuerTemplateTenant checks which tenant the {tenantid} of an
// issuer template (WithIssuers, a multi-tenant discovery document) may
// stand for: the authority's own tenant when the authority names one,
// whatever tenant the token names; any tenant for common and
// organizations authorities; the tenants of WithAllowedTenants when given.
// Entra signs every tenant's tokens with the same keys, so a template
// filled from the token's own tid would let any tenant's token in.
func TestIssuerTemplateTenant(t *testing.T) {
	const (
		fabrikamTID = "11111111-2222-3333-4444-555555555555"
		northwindID = "66666666-7777-8888-9999-000000000000"
		v1          = "https://sts.windows.net/{tenantid}/"
	)
	m := newMiddleTier(t, authtest.Client{})
	m.srv.AddUser(authtest.User{Username: "carol@fabrikam.com", TenantID: fabrikamTID})
	m.srv.AddUser(authtest.User{Username: "dan@northwind.com", TenantID: northwindID})
	// token is user's access token for the middle tier, with a v1.0
	// issuer (of its own tenant) when v1 is set.
	token := func(user, tid string, v1 bool) string {
		spec := authtest.AccessTokenSpec{Audience: middleAPI, Subject: user, Scopes: []string{"access"}}
		if v1 {
			spec.Claims = map[string]any{"iss": "https://sts.windows.net/" + tid + "/", "ver": "1.0"}
		}
		return m.srv.IssueAccessToken(spec)
	}
	alice := func(v1 bool) string { return token(aliceName, authtest.DefaultTenant, v1) }
	carol := func(v1 bool) string { return token("carol@fabrikam.com", fabrikamTID, v1) }
	dan := func(v1 bool) string { return token("dan@northwind.com", northwindID, v1) }

	byDomain := []Option{WithAuthority(m.srv.Authority("contoso.com"))}
	byID := []Option{WithAuthority(m.srv.Authority(authtest.DefaultTenant))}
	organizations := []Option{WithAuthority(m.srv.Authority("organizations"))}
	common := []Option{WithAuthority(m.srv.Authority("common"))}
	tests := []struct {
		name    string
		app     []Option
		opts    []MiddlewareOption
		token   string
		status  int
		problem string // in the challenge's error_description
	}{
		{"tenant_by_domain_own_v1", byDomain, []MiddlewareOption{WithIssuers(v1)}, alice(true), 200, ""},
		{"tenant_by_domain_other_v1", byDomain, []MiddlewareOption{WithIssuers(v1)}, carol(true), 401, "issuer"},
		{"tenant_by_domain_other_v2_template", byDomain, []MiddlewareOption{WithIssuers("https://login.microsoftonline.com/{tenantid}/v2.0")}, carol(false), 401, "issuer"},
		{"tenant_by_id_own_v1", byID, []MiddlewareOption{WithIssuers(v1)}, alice(true), 200, ""},
		{"tenant_by_id_other_v1", byID, []MiddlewareOption{WithIssuers(v1)}, carol(true), 401, "issuer"},
		{"tenant_by_id_own_v2", byID, []MiddlewareOption{WithIssuers(v1)}, alice(false), 200, ""},
		{"tenant_allowed_other_v1", byDomain, []MiddlewareOption{WithIssuers(v1), WithAllowedTenants(authtest.DefaultTenant, fabrikamTID)}, carol(true), 200, ""},
		{"tenant_allowed_own_v1", byDomain, []MiddlewareOption{WithIssuers(v1), WithAllowedTenants(authtest.DefaultTenant, fabrikamTID)}, alice(true), 200, ""},
		{"tenant_allowed_third_v1", byDomain, []MiddlewareOption{WithIssuers(v1), WithAllowedTenants(authtest.DefaultTenant, fabrikamTID)}, dan(true), 401, ""},
		{"tenant_allowed_list_without_own", byDomain, []MiddlewareOption{WithIssuers(v1), WithAllowedTenants(fabrikamTID)}, alice(true), 401, ""},
		{"organizations_any_v1", organizations, []MiddlewareOption{WithIssuers(v1)}, carol(true), 200, ""},
		{"organizations_any_v2", organizations, nil, dan(false), 200, ""},
		{"common_any_v1", common, []MiddlewareOption{WithIssuers(v1)}, dan(true), 200, ""},
		{"organizations_allowed_v1", organizations, []MiddlewareOption{WithIssuers(v1), WithAllowedTenants(authtest.DefaultTenant)}, carol(true), 401, ""},
		{"organizations_allowed_own_v1", organizations, []MiddlewareOption{WithIssuers(v1), WithAllowedTenants(authtest.DefaultTenant)}, alice(true), 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAPI(t, m, tt.app, append([]MiddlewareOption{WithAudiences(middleAPI)}, tt.opts...)...)
			w := a.call("Bearer " + tt.token)
			ch := w.Header().Get("WWW-Authenticate")
			if w.Code != tt.status || tt.problem != "" && !strings.Contains(ch, tt.problem) {
				t.Errorf("status %d %s, want %d with %q", w.Code, ch, tt.status, tt.problem)
			}
			if (w.Code == 200) != a.last.called {
				t.Errorf("status %d, the handler called: %v", w.Code, a.last.called)
			}
		})
	}
}

func TestTenantIDOf(t *testing.T) {
	const id = "0a3c1ef9-170f-4ae3-a5fc-db742f13f25a"
	tests := []struct{ issuer, want string }{
		{"https://login.microsoftonline.com/" + id + "/v2.0", id},
		{"https://sts.windows.net/" + id + "/", id},
		{"https://login.microsoftonline.com/" + strings.ToUpper(id) + "/v2.0", id},
		{"https://contoso.b2clogin.com/" + id + "/v2.0/", id},
		{"https://" + id + ".ciamlogin.com/" + id + "/v2.0", id},
		{"https://login.microsoftonline.com/{tenantid}/v2.0", ""},
		{"https://login.microsoftonline.com/contoso.com/v2.0", ""},
		{"https://fs.contoso.com/adfs", ""},
		{"https://idp.example.com", ""},
		{"https://idp.example.com/", ""},
		{"", ""},
		{"://bad", ""},
		{"https://h/0a3c1ef9-170f-4ae3-a5fc-db742f13f25", ""},   // 35 characters
		{"https://h/0a3c1ef9x170f-4ae3-a5fc-db742f13f25a", ""},  // a dash missing
		{"https://h/0a3c1ef9-170f-4ae3-a5fc-db742f13f25g", ""},  // not hex
		{"https://h/0a3c1ef9-170f-4ae3-a5fc-db742f13f25a0", ""}, // 37 characters
	}
	for _, tt := range tests {
		if got := tenantIDOf(tt.issuer); got != tt.want {
			t.Errorf("tenantIDOf(%q) = %q, want %q", tt.issuer, got, tt.want)
		}
	}
}
