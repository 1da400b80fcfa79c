package oauth

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestNoSecretInLogsOrErrors runs calls that retry, fail and echo their
// input, logging at debug level, and looks for every secret they carried
// in the log and the errors.
func TestNoSecretInLogsOrErrors(t *testing.T) {
	const (
		secret   = "client-secret-Zq9"
		password = "hunter2-password"
		code     = "auth-code-0xC0DE"
		refresh  = "refresh-token-R1"
	)
	// echo answers with everything it received, as a badly behaved
	// authority might.
	echo := func(status int) step {
		return func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			form, _ := url.ParseQuery(string(body))
			writeJSON(w, status, fmt.Sprintf(`{"error":"invalid_request","error_description":%q}`,
				"got "+form.Encode()+" and "+r.Header.Get("Authorization")+" and "+string(body)))
		}
	}
	plainEcho := func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.WriteHeader(500)
		w.Write(body)
	}
	var lb logBuffer
	var sl sleeps
	c := testClient(&sl)
	c.Logger = lb.logger()
	var sg signer
	basic := func(_ context.Context, form url.Values, h http.Header) error {
		h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("cid:"+secret)))
		form.Set("client_secret", secret)
		return nil
	}
	var errs []string
	for _, tc := range []struct {
		form  url.Values
		auth  func(context.Context, url.Values, http.Header) error
		steps []step
	}{
		{PasswordForm("cid", nil, "ann", password, ""), basic, []step{echo(503), echo(400)}},
		{AuthCodeForm("cid", nil, code, "http://localhost", "", ""), basic, []step{echo(400)}},
		{RefreshTokenForm("cid", nil, refresh, ""), sg.authenticate, []step{plainEcho, plainEcho, plainEcho}},
		{ClientCredentialsForm("cid", nil, ""), sg.authenticate, []step{hangUp, echo(429), okToken}},
	} {
		srv := newAuthority(t, tc.steps...)
		tr, err := c.Token(context.Background(), &Request{URL: srv.URL + "/t/token", Form: tc.form, Authenticate: tc.auth})
		if err != nil {
			errs = append(errs, err.Error(), fmt.Sprintf("%+v %#v", err, err))
		} else {
			errs = append(errs, fmt.Sprintf("%v %+v %#v", tr, tr, *tr))
		}
	}
	secrets := []string{secret, password, code, refresh, "assertion-secret", "at-secret-value",
		base64.StdEncoding.EncodeToString([]byte("cid:" + secret))}
	mustNotContain(t, "log", lb.String(), secrets...)
	for _, e := range errs {
		mustNotContain(t, "error", e, secrets...)
	}
	for _, want := range []string{"oauth: request", "will retry", "wait=", "status=503", "client_request_id="} {
		if !strings.Contains(lb.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, lb.String())
		}
	}
}

// TestRequestSecretsAreScrubbed: a GET's Authorization header and the
// values of Request.Secrets (a managed identity endpoint's secret
// header) are scrubbed from the error of an answer that echoes them.
func TestRequestSecretsAreScrubbed(t *testing.T) {
	const header, basic = "x-identity-SECRET-value", "arc-KEY-content-1234"
	a := newAuthority(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 400, fmt.Sprintf(`{"error":"bad","error_description":"header %s, authorization %s, encoded %s"}`,
			r.Header.Get("X-Identity-Header"), r.Header.Get("Authorization"), url.QueryEscape(r.Header.Get("X-Identity-Header"))))
	})
	logs := &logBuffer{}
	c := testClient(&sleeps{})
	c.Logger = logs.logger()
	resp, err := c.Do(context.Background(), &Request{
		Method:  http.MethodGet,
		URL:     a.URL + "/msi/token",
		Header:  http.Header{"X-Identity-Header": {header}, "Authorization": {"Basic " + basic}},
		Secrets: []string{header},
		Bare:    true,
	})
	if err != nil {
		t.Fatal(err)
	}
	e := resp.Error()
	if e.Code != "bad" {
		t.Fatalf("error %+v", e)
	}
	mustNotContain(t, "error", e.Error(), header, basic)
	mustNotContain(t, "log", logs.String(), header, basic)
	if !strings.Contains(e.Error(), "REDACTED") {
		t.Errorf("nothing was scrubbed: %q", e.Error())
	}
}
