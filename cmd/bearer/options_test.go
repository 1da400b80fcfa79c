package main

import (
	"bytes"
	"errors"
	"flag"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestResolve(t *testing.T) {
	userLast := profile{Authority: "https://login.microsoftonline.us/contoso.com", ClientID: "cli-app", HomeAccountID: "uid.utid", Username: "alice@contoso.com"}
	appLast := profile{Authority: "https://login.microsoftonline.com/contoso.com", ClientID: "daemon", ClientSecretFile: "/etc/daemon.secret"}
	envLast := profile{Authority: "https://login.microsoftonline.com/contoso.com", ClientID: "daemon", FromEnvironment: true}
	appEnv := map[string]string{"AZURE_CLIENT_ID": "env-app", "AZURE_TENANT_ID": "fabrikam.com", "AZURE_CLIENT_SECRET": "s"}
	tests := []struct {
		name  string
		flags []string
		env   map[string]string
		last  profile
		login bool
		want  settings
		err   string
	}{
		{name: "defaults", want: settings{authority: "https://login.microsoftonline.com/organizations", clientID: defaultClientID}},
		{name: "environment_client_and_tenant", env: map[string]string{"AZURE_CLIENT_ID": "c", "AZURE_TENANT_ID": "t", "AZURE_AUTHORITY_HOST": "https://login.microsoftonline.us/"},
			want: settings{authority: "https://login.microsoftonline.us/t", clientID: "c"}},
		{name: "flags", flags: []string{"--authority", "https://login.partner.microsoftonline.cn", "--tenant", "t.cn", "--client-id", "c"},
			want: settings{authority: "https://login.partner.microsoftonline.cn/t.cn", clientID: "c"}},
		{name: "whole_authority", flags: []string{"--authority", "https://contoso.b2clogin.com/contoso.onmicrosoft.com/B2C_1_signin/"},
			want: settings{authority: "https://contoso.b2clogin.com/contoso.onmicrosoft.com/B2C_1_signin", clientID: defaultClientID}},
		{name: "oidc", flags: []string{"--oidc", "--authority", "https://idp.example/realms/a/", "--client-id", "c"},
			want: settings{authority: "https://idp.example/realms/a", oidc: true, clientID: "c"}},
		{name: "last_sign_in", last: userLast,
			want: settings{authority: userLast.Authority, clientID: "cli-app", homeAccountID: "uid.utid", fromProfile: true}},
		{name: "last_sign_in_with_account_flag", last: userLast, flags: []string{"--account", "bob@contoso.com"},
			want: settings{authority: userLast.Authority, clientID: "cli-app", homeAccountID: "uid.utid", fromProfile: true, username: "bob@contoso.com"}},
		{name: "tenant_flag_keeps_the_last_host_and_client", last: userLast, flags: []string{"--tenant", "fabrikam.com"},
			want: settings{authority: "https://login.microsoftonline.us/fabrikam.com", clientID: "cli-app", homeAccountID: "uid.utid", fromProfile: true}},
		{name: "other_client_is_not_the_last_account", last: userLast, flags: []string{"--client-id", "other"},
			want: settings{authority: userLast.Authority, clientID: "other"}},
		{name: "login_ignores_the_last_sign_in", last: userLast, login: true,
			want: settings{authority: "https://login.microsoftonline.com/organizations", clientID: defaultClientID}},
		{name: "environment_application_wins_over_the_last_sign_in", last: userLast, env: appEnv,
			want: settings{authority: "https://login.microsoftonline.com/fabrikam.com", clientID: "env-app", cred: credEnvSecret}},
		{name: "environment_certificate", env: map[string]string{"AZURE_CLIENT_ID": "c", "AZURE_TENANT_ID": "t", "AZURE_CLIENT_CERTIFICATE_PATH": "/c.pem"},
			want: settings{authority: "https://login.microsoftonline.com/t", clientID: "c", cred: credEnvCert, credFile: "/c.pem"}},
		{name: "last_application", last: appLast,
			want: settings{authority: appLast.Authority, clientID: "daemon", cred: credSecretFile, credFile: "/etc/daemon.secret"}},
		{name: "secret_file_flag", flags: []string{"--client-secret-file", "s.txt", "--client-id", "c", "--tenant", "t"},
			want: settings{authority: "https://login.microsoftonline.com/t", clientID: "c", cred: credSecretFile, credFile: "s.txt"}},
		{name: "certificate_flag", flags: []string{"--certificate", "c.pem", "--client-id", "c", "--tenant", "t"},
			want: settings{authority: "https://login.microsoftonline.com/t", clientID: "c", cred: credCertFile, credFile: "c.pem"}},
		{name: "last_application_from_environment_without_it", last: envLast, err: "which are not set"},
		{name: "application_without_client", flags: []string{"--client-secret-file", "s", "--tenant", "t"}, err: "give --client-id"},
		{name: "application_without_tenant", flags: []string{"--client-secret-file", "s", "--client-id", "c"}, err: "give --tenant"},
		{name: "both_credentials", flags: []string{"--client-secret-file", "s", "--certificate", "c"}, err: "not both"},
		{name: "tenant_and_whole_authority", flags: []string{"--authority", "https://login.microsoftonline.com/t", "--tenant", "u"}, err: "names a tenant already"},
		{name: "oidc_tenant", flags: []string{"--oidc", "--authority", "https://idp.example", "--tenant", "t"}, err: "--tenant does not apply"},
		{name: "oidc_without_authority", flags: []string{"--oidc"}, err: "--oidc needs --authority"},
		{name: "authority_not_a_url", flags: []string{"--authority", "login.microsoftonline.com"}, err: "is not an https URL"},
		{name: "authority_with_query", flags: []string{"--authority", "https://login.microsoftonline.com/t?x=1"}, err: "is not an https URL"},
		{name: "authority_with_user", flags: []string{"--authority", "https://u:p@login.microsoftonline.com/t"}, err: "is not an https URL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var o options
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			o.common(fs)
			if err := fs.Parse(tc.flags); err != nil {
				t.Fatal(err)
			}
			o.given = map[string]bool{}
			fs.Visit(func(f *flag.Flag) { o.given[f.Name] = true })
			got, err := resolve(&o, func(k string) string { return tc.env[k] }, tc.last, tc.login)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("settings\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestParseInterleaved(t *testing.T) {
	tests := []struct {
		args      []string
		pos       []string
		data      string
		verbose   bool
		headerNum int
	}{
		{[]string{"https://a/", "--data", "@f"}, []string{"https://a/"}, "@f", false, 0},
		{[]string{"-v", "https://a/", "-H", "A: 1", "-H", "B: 2"}, []string{"https://a/"}, "", true, 2},
		{[]string{"https://a/", "--", "-v"}, []string{"https://a/", "-v"}, "", false, 0},
		{[]string{"--data=--", "x", "y"}, []string{"x", "y"}, "--", false, 0},
		{nil, nil, "", false, 0},
	}
	for _, tc := range tests {
		var o options
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		o.common(fs)
		callCommand("post").flags(fs, &o)
		pos, err := parseInterleaved(fs, tc.args)
		if err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		if !reflect.DeepEqual(pos, tc.pos) || o.data != tc.data || o.verbose != tc.verbose || len(o.headers) != tc.headerNum {
			t.Errorf("%q: positional %q, data %q, verbose %v, headers %q", tc.args, pos, o.data, o.verbose, o.headers)
		}
	}
}

func TestScopeAndHeaderFlags(t *testing.T) {
	var s scopeList
	for _, v := range []string{"User.Read Mail.Read", "a,b", " c "} {
		if err := s.Set(v); err != nil {
			t.Fatal(err)
		}
	}
	if want := (scopeList{"User.Read", "Mail.Read", "a", "b", "c"}); !reflect.DeepEqual(s, want) {
		t.Errorf("scopes %q", s)
	}
	var h headerList
	for _, v := range []string{"X-A: 1", "X-B:two: three", "Empty:"} {
		if err := h.Set(v); err != nil {
			t.Errorf("%q: %v", v, err)
		}
	}
	for _, v := range []string{"no colon", ": no name", "Bad Name: x", ""} {
		if err := h.Set(v); err == nil {
			t.Errorf("%q accepted", v)
		}
	}
}

func TestDefaultScope(t *testing.T) {
	for raw, want := range map[string]string{
		"https://graph.microsoft.com/v1.0/me":                     "https://graph.microsoft.com/.default",
		"https://GRAPH.microsoft.com/beta/users":                  "https://graph.microsoft.com/.default",
		"https://management.azure.com/subscriptions?api=1":        "https://management.azure.com/.default",
		"https://myvault.vault.azure.net/secrets/x":               "https://vault.azure.net/.default",
		"https://acct.blob.core.windows.net/c/b":                  "https://storage.azure.com/.default",
		"https://acct.dfs.core.windows.net/fs":                    "https://storage.azure.com/.default",
		"https://ns.servicebus.windows.net/q":                     "https://servicebus.azure.net/.default",
		"https://srv.database.windows.net/":                       "https://database.windows.net/.default",
		"https://x.openai.azure.com/openai/deployments":           "https://cognitiveservices.azure.com/.default",
		"https://api.contoso.example:8443/orders":                 "https://api.contoso.example:8443/.default",
		"https://vault.azure.net.evil.example/":                   "https://vault.azure.net.evil.example/.default",
		"https://notgraph.microsoft.com/":                         "https://notgraph.microsoft.com/.default",
		"https://evil-management.azure.com.example/subscriptions": "https://evil-management.azure.com.example/.default",
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := defaultScope(u); got != want {
			t.Errorf("defaultScope(%s) = %s, want %s", raw, got, want)
		}
	}
}

func TestCheckTarget(t *testing.T) {
	for _, ok := range []string{"https://graph.microsoft.com/v1.0/me", "http://127.0.0.1:8080/x", "http://localhost/x", "http://[::1]:9/x"} {
		if _, err := checkTarget(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"http://graph.microsoft.com/v1.0/me", "http://10.0.0.1/x", "http://localhost.evil.example/", "file:///etc/passwd",
		"graph.microsoft.com/v1.0/me", "https://user:pw@graph.microsoft.com/", "https:///nohost", "://x"} {
		_, err := checkTarget(bad)
		var ue *usageError
		if !errors.As(err, &ue) {
			t.Errorf("%s: %v, want a usage error", bad, err)
		}
	}
}

func TestAllowedHostAndRedactURL(t *testing.T) {
	for raw, want := range map[string][2]string{
		"https://graph.microsoft.com/v1.0/me?$select=id": {"graph.microsoft.com", "https://graph.microsoft.com/v1.0/me?…"},
		"http://127.0.0.1:8400/v1.0/me#frag":             {"127.0.0.1:8400", "http://127.0.0.1:8400/v1.0/me"},
		"https://acct.blob.core.windows.net/c?sig=SAS":   {"acct.blob.core.windows.net", "https://acct.blob.core.windows.net/c?…"},
	} {
		u, _ := url.Parse(raw)
		if got := allowedHost(u); got != want[0] {
			t.Errorf("allowedHost(%s) = %s", raw, got)
		}
		if got := redactURL(u); got != want[1] {
			t.Errorf("redactURL(%s) = %s", raw, got)
		}
	}
}

func TestWrapAndClock(t *testing.T) {
	lines := wrap("the quick brown fox jumps over the lazy dog", 12)
	if want := []string{"the quick", "brown fox", "jumps over", "the lazy dog"}; !reflect.DeepEqual(lines, want) {
		t.Errorf("wrap: %q", lines)
	}
	if got := wrap("averyveryverylongword short", 5); !reflect.DeepEqual(got, []string{"averyveryverylongword", "short"}) {
		t.Errorf("wrap of a long word: %q", got)
	}
	for d, want := range map[time.Duration]string{0: "0:00", 59 * time.Second: "0:59", 14*time.Minute + 59*time.Second + 600*time.Millisecond: "15:00",
		time.Hour + 2*time.Minute + 3*time.Second: "1:02:03"} {
		if got := clock(d); got != want {
			t.Errorf("clock(%v) = %s, want %s", d, got, want)
		}
	}
}

func TestProgressOutput(t *testing.T) {
	var plain bytes.Buffer
	p := &progress{w: &plain, expires: time.Now().Add(10 * time.Minute)}
	p.draw(0)
	p.draw(1)
	lines := strings.Split(strings.TrimSuffix(plain.String(), "\n"), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "Waiting for you to sign in (") || !strings.HasPrefix(lines[1], "Still waiting for you to sign in (") ||
		strings.ContainsAny(plain.String(), "\r\x1b") {
		t.Errorf("plain lines %q", plain.String())
	}
	var tty bytes.Buffer
	p = &progress{w: &tty, tty: true, expires: time.Now().Add(90 * time.Second)}
	p.draw(0)
	p.draw(11)
	if got := tty.String(); !strings.HasPrefix(got, "\r\x1b[K⠋ Waiting for you to sign in… 1:") || !strings.Contains(got, "\r\x1b[K⠙ ") || strings.Contains(got, "\n") {
		t.Errorf("spinner %q", got)
	}
	// finish clears the spinner's line.
	tty.Reset()
	q := startProgress(&tty, true, time.Hour, time.Now().Add(time.Minute))
	q.finish()
	if got := tty.String(); !strings.HasSuffix(got, "\r\x1b[K") || strings.Count(got, "Waiting") != 1 {
		t.Errorf("start and finish: %q", got)
	}
}

func TestReadProfileRefusesBrokenFiles(t *testing.T) {
	for name, content := range map[string]string{
		"not_json":        "{not json",
		"truncated":       `{"authority":"https://login.microsoftonline.com/t"`,
		"array":           `[]`,
		"wrong_type":      `{"client_id":5}`,
		"binary":          "\x00\xff\xfe",
		"string":          `"x"`,
		"oidc_not_a_bool": `{"oidc":"yes"}`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, profileName), []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			if p, err := readProfile(dir); err == nil || !strings.Contains(err.Error(), "is not a sign-in written by bearer") {
				t.Errorf("readProfile = %+v, %v", p, err)
			}
		})
	}
	if p, err := readProfile(t.TempDir()); err != nil || p != (profile{}) {
		t.Errorf("no file: %+v, %v", p, err)
	}
}

func FuzzReadProfile(f *testing.F) {
	f.Add([]byte(`{"authority":"https://login.microsoftonline.com/contoso.com","client_id":"c","home_account_id":"u.t","username":"a@b"}`))
	f.Add([]byte(`{"authority":"https://login.microsoftonline.com/t","client_id":"d","client_secret_file":"/s"}`))
	f.Add([]byte(`{"oidc":true,"credential_from_environment":true}`))
	f.Add([]byte(`{`))
	f.Add([]byte(`null`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, profileName), b, 0o600); err != nil {
			t.Fatal(err)
		}
		p, err := readProfile(dir)
		if err != nil {
			return
		}
		// Whatever it read resolves or fails cleanly.
		var o options
		o.given = map[string]bool{}
		_, _ = resolve(&o, func(string) string { return "" }, p, false)
	})
}
