package flow

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

const imdsPath = "/metadata/instance/compute/location"

// imds is an instance metadata stand-in answering with body (status 200)
// or status.
func imds(t *testing.T, status int, body string) *server {
	s := newServer(t)
	s.handle(imdsPath, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Metadata") != "true" || r.URL.Query().Get("format") != "text" || r.URL.Query().Get("api-version") != "2021-01-01" {
			t.Errorf("IMDS request %s %v with Metadata %q", r.URL.Path, r.URL.Query(), r.Header.Get("Metadata"))
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	})
	return s
}

// env is a getenv seam.
func env(vars map[string]string) Option {
	return func(c *config) { c.getenv = func(k string) string { return vars[k] } }
}

var entraTenant, _ = parseAuthority("https://login.microsoftonline.com/contoso.com", false)

func TestRegionDetection(t *testing.T) {
	tests := []struct {
		name      string
		env       string
		status    int
		body      string
		want      string
		imdsCalls int
	}{
		{"environment_first", "WestUS2", 200, "eastus", "westus2", 0},
		{"imds_when_no_environment", "", 200, "eastus\n", "eastus", 1},
		{"imds_json_string", "", 200, `"centralus"`, "centralus", 1},
		{"imds_when_environment_is_not_a_region", "west us 2!", 200, "eastus", "eastus", 1},
		{"imds_404_falls_back_to_global", "", 404, "", "", 1},
		{"imds_500_falls_back_without_retry", "", 500, "", "", 1},
		{"imds_garbage_falls_back", "", 200, "<html>West US</html>", "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := imds(t, tt.status, tt.body)
			c := mustCore(t, "cid", WithRegion(AutoDetectRegion), WithRegionEndpoint(s.URL),
				env(map[string]string{"REGION_NAME": tt.env}))
			for range 3 {
				if got := c.regions.forAuthority(context.Background(), entraTenant); got != tt.want {
					t.Fatalf("region = %q, want %q", got, tt.want)
				}
			}
			if got := s.count(imdsPath); got != tt.imdsCalls {
				t.Errorf("%d IMDS requests, want %d (the answer is remembered)", got, tt.imdsCalls)
			}
		})
	}
}

func TestRegionDetectedOnceUnderConcurrency(t *testing.T) {
	s := imds(t, 200, "northeurope")
	c := mustCore(t, "cid", WithRegion(AutoDetectRegion), WithRegionEndpoint(s.URL), env(nil))
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if got := c.regions.forAuthority(context.Background(), entraTenant); got != "northeurope" {
				t.Errorf("region = %q", got)
			}
		}()
	}
	wg.Wait()
	if got := s.count(imdsPath); got != 1 {
		t.Errorf("%d IMDS requests, want 1", got)
	}
}

func TestRegionTimeoutIsTwoSeconds(t *testing.T) {
	s := imds(t, 200, "eastus")
	var asked []time.Duration
	expired := func(c *config) {
		c.withTimeout = func(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
			asked = append(asked, d)
			return context.WithDeadline(ctx, time.Now().Add(-time.Second)) // the service did not answer in time
		}
	}
	c := mustCore(t, "cid", WithRegion(AutoDetectRegion), WithRegionEndpoint(s.URL), env(nil), expired)
	if got := c.regions.forAuthority(context.Background(), entraTenant); got != "" {
		t.Errorf("region after a timeout = %q, want the global endpoint", got)
	}
	if len(asked) != 1 || asked[0] != 2*time.Second {
		t.Errorf("timeouts asked = %v, want [2s]", asked)
	}
	c.regions.forAuthority(context.Background(), entraTenant)
	if len(asked) != 1 {
		t.Errorf("detection ran again after a timeout")
	}
}

func TestRegionTimeoutEndsAHungService(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	s := newServer(t)
	s.handle(imdsPath, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	short := func(c *config) { c.regionTimeout = 50 * time.Millisecond } // stands for 2 s
	var lb logBuffer
	c := mustCore(t, "cid", WithRegion(AutoDetectRegion), WithRegionEndpoint(s.URL), env(nil), short, WithLogger(lb.logger()))
	if got := c.regions.forAuthority(context.Background(), entraTenant); got != "" {
		t.Errorf("region = %q, want none", got)
	}
	if !contains(lb.String(), "global endpoint") {
		t.Errorf("log does not say the global endpoint is used:\n%s", lb.String())
	}
}

func TestRegionAppliesToEntraTenantsOnly(t *testing.T) {
	s := imds(t, 200, "eastus")
	for _, tc := range []struct {
		raw  string
		oidc bool
	}{
		{"https://fabrikamb2c.b2clogin.com/t/B2C_1_x", false},
		{"https://contoso.ciamlogin.com/", false},
		{"https://fs.contoso.com/adfs", false},
		{"http://127.0.0.1:1/contoso.com", false},
		{"https://accounts.example.com", true},
	} {
		a, err := parseAuthority(tc.raw, tc.oidc)
		if err != nil {
			t.Fatal(err)
		}
		for _, region := range []string{"westus2", AutoDetectRegion} {
			c := mustCore(t, "cid", WithRegion(region), WithRegionEndpoint(s.URL), env(nil))
			if got := c.regions.forAuthority(context.Background(), a); got != "" {
				t.Errorf("%s with region %q: %q, want none", tc.raw, region, got)
			}
		}
	}
	if got := s.count(imdsPath); got != 0 {
		t.Errorf("%d IMDS requests for authorities without regions", got)
	}
	c := mustCore(t, "cid", WithRegion("WestUS2"), WithRegionEndpoint(s.URL))
	if got := c.regions.forAuthority(context.Background(), entraTenant); got != "westus2" {
		t.Errorf("configured region = %q", got)
	}
	c = mustCore(t, "cid", WithRegionEndpoint(s.URL))
	if got := c.regions.forAuthority(context.Background(), entraTenant); got != "" {
		t.Errorf("no region configured: %q", got)
	}
}

func FuzzRegionName(f *testing.F) {
	for _, s := range []string{"westus2", "WestUS2", " eastus\n", "west us", "a-", "-a", "x.evil.example", "", "a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		r, ok := validRegion(raw)
		if !ok {
			return
		}
		a, err := parseAuthority("https://login.microsoftonline.com/contoso.com", false)
		if err != nil {
			t.Fatal(err)
		}
		e, _ := a.staticEndpoints()
		u, ok := e.regionalToken(r)
		if !ok || !strings.HasPrefix(u, "https://"+r+".login.microsoft.com/contoso.com/") {
			t.Fatalf("region %q gives the token endpoint %q", r, u)
		}
	})
}
