package flow

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/bearerhttp/bearer/cache"
)

func TestOptionDefaults(t *testing.T) {
	c, err := newConfig()
	if err != nil {
		t.Fatal(err)
	}
	if c.authority != DefaultAuthority || c.oidcAuthority || !c.instanceDiscovery || !c.validateAuthority ||
		c.instanceDiscoveryEndpoint != "https://login.microsoftonline.com" || c.regionEndpoint != "http://169.254.169.254" ||
		c.httpClient != http.DefaultClient || c.logger == nil || c.clock == nil || c.pii || c.region != "" ||
		c.cache != nil || c.capabilitiesJSON != "" || c.requestTimeout != 30*time.Second || c.regionTimeout != 2*time.Second {
		t.Errorf("defaults = %+v", c)
	}
	if c.logger.Enabled(context.Background(), slog.LevelError) {
		t.Error("the default logger is not silent")
	}
}

func TestOptionsSetTheirField(t *testing.T) {
	hc := &http.Client{}
	ch := cache.New()
	lg := slog.New(slog.DiscardHandler)
	clk := func() time.Time { return testNow }
	backoff := func(int, *http.Response, time.Time) time.Duration { return time.Second }
	claims := map[string]any{"xms_az_claim": "x"}
	c, err := newConfig(
		WithAuthority("https://login.microsoftonline.com/contoso.com"),
		WithCache(ch), WithHTTPClient(hc), WithCapabilities("cp1"), WithRegion("WestUS2"),
		WithInstanceDiscovery(false), WithValidateAuthority(false), WithAppName("app"), WithAppVersion("1.0"),
		WithClientClaims(claims), WithExcludeScopes("offline_access"), WithLogger(lg), WithPII(true), WithClock(clk),
		WithInstanceDiscoveryEndpoint("http://127.0.0.1:9/"), WithRegionEndpoint("http://127.0.0.1:8/"),
		WithRetryPolicy(RetryPolicy{Backoff: backoff}),
		nil, // a nil option is ignored
	)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name string
		ok   bool
	}{
		{"WithAuthority", c.authority == "https://login.microsoftonline.com/contoso.com" && !c.oidcAuthority},
		{"WithCache", c.cache == ch},
		{"WithHTTPClient", c.httpClient == hc},
		{"WithCapabilities", reflect.DeepEqual(c.capabilities, []string{"cp1"}) && c.capabilitiesJSON == `{"access_token":{"xms_cc":{"values":["cp1"]}}}`},
		{"WithRegion", c.region == "westus2"},
		{"WithInstanceDiscovery", !c.instanceDiscovery},
		{"WithValidateAuthority", !c.validateAuthority},
		{"WithAppName", c.appName == "app"},
		{"WithAppVersion", c.appVersion == "1.0"},
		{"WithClientClaims", reflect.DeepEqual(c.clientClaims, claims)},
		{"WithExcludeScopes", reflect.DeepEqual(c.excludeScopes, []string{"offline_access"})},
		{"WithLogger", c.logger == lg},
		{"WithPII", c.pii},
		{"WithClock", c.clock().Equal(testNow)},
		{"WithInstanceDiscoveryEndpoint", c.instanceDiscoveryEndpoint == "http://127.0.0.1:9"},
		{"WithRegionEndpoint", c.regionEndpoint == "http://127.0.0.1:8"},
		{"WithRetryPolicy", c.retry.Backoff != nil && c.oauthClient().Backoff != nil},
	}
	for _, ch := range checks {
		if !ch.ok {
			t.Errorf("%s did not take effect", ch.name)
		}
	}
	w := c.oauthClient()
	if w.HTTPClient != hc || w.AppName != "app" || w.AppVersion != "1.0" || w.Logger != lg || !w.Now().Equal(testNow) {
		t.Errorf("wire client = %+v", w)
	}
	c, err = newConfig(WithAuthority("https://login.microsoftonline.com/x"), WithOIDCAuthority("https://accounts.example.com"), WithRegion(AutoDetectRegion))
	if err != nil || c.authority != "https://accounts.example.com" || !c.oidcAuthority || c.region != AutoDetectRegion {
		t.Errorf("WithOIDCAuthority after WithAuthority: %+v, %v", c, err)
	}
}

func TestOptionErrors(t *testing.T) {
	tests := []struct {
		name string
		opts []Option
		want error
	}{
		{"bad_authority", []Option{WithAuthority("http://login.microsoftonline.com/common")}, ErrInvalidAuthority},
		{"bad_oidc_authority", []Option{WithOIDCAuthority("https://a/x?y")}, ErrInvalidAuthority},
		{"bad_region", []Option{WithRegion("West US 2")}, ErrInvalidOption},
		{"region_with_dot", []Option{WithRegion("westus2.evil.example")}, ErrInvalidOption},
		{"discovery_endpoint_http", []Option{WithInstanceDiscoveryEndpoint("http://discovery.example")}, ErrInvalidOption},
		{"discovery_endpoint_relative", []Option{WithInstanceDiscoveryEndpoint("discovery")}, ErrInvalidOption},
		{"region_endpoint_ftp", []Option{WithRegionEndpoint("ftp://169.254.169.254")}, ErrInvalidOption},
		{"region_endpoint_query", []Option{WithRegionEndpoint("http://169.254.169.254?x")}, ErrInvalidOption},
		{"empty_capability", []Option{WithCapabilities("cp1", "")}, ErrInvalidOption},
		{"capability_with_quote_space", []Option{WithCapabilities(`cp1" x`)}, ErrInvalidOption},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := newConfig(tt.opts...); !errors.Is(err, tt.want) {
				t.Errorf("newConfig error = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestCallOptions(t *testing.T) {
	cc, err := newCallConfig(Claims(`{"id_token":{}}`), Tenant("t"), ForceRefresh(), Authority("https://login.microsoftonline.com/x"),
		LoginHint("ann@contoso.com"), DomainHint("contoso.com"), Prompt(PromptSelectAccount), State("st"),
		MaxAge(90*time.Second), ResponseMode(ResponseModeFormPost), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := callConfig{claims: `{"id_token":{}}`, tenant: "t", forceRefresh: true, authority: "https://login.microsoftonline.com/x",
		loginHint: "ann@contoso.com", domainHint: "contoso.com", prompt: "select_account", state: "st",
		maxAge: 90 * time.Second, hasMaxAge: true, responseMode: "form_post",
		given: optClaims | optTenant | optForceRefresh | optAuthority | optLoginHint | optDomainHint | optPrompt | optState | optMaxAge | optResponseMode}
	if !reflect.DeepEqual(cc, want) {
		t.Errorf("callConfig =\n%+v\nwant\n%+v", cc, want)
	}
	if cc, _ := newCallConfig(MaxAge(0)); !cc.hasMaxAge || cc.maxAge != 0 {
		t.Errorf("MaxAge(0) = %+v: zero must be kept (it forces a sign-in)", cc)
	}
	for name, o := range map[string]CallOption{
		"claims_not_json":  Claims("{"),
		"claims_array":     Claims("[]"),
		"negative_max_age": MaxAge(-time.Second),
	} {
		if _, err := newCallConfig(o); !errors.Is(err, ErrInvalidOption) {
			t.Errorf("%s: %v, want ErrInvalidOption", name, err)
		}
	}
}
