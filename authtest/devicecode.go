package authtest

import (
	"crypto/rand"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// deviceGrant is the server's state of one device authorization (RFC 8628).
type deviceGrant struct {
	clientID   string
	tid        string
	scope      string
	userCode   string
	expires    time.Time
	interval   time.Duration
	lastPoll   time.Time
	state      deviceState
	username   string
	authTime   time.Time
	deviceCode string
}

type deviceState int

const (
	devicePending deviceState = iota
	deviceApproved
	deviceDeclined
	deviceRedeemed
)

// Errors of [Server.ApproveDeviceCode] and [Server.DeclineDeviceCode].
var (
	ErrUnknownUserCode   = errors.New("authtest: no device authorization has this user code")
	ErrDeviceCodeExpired = errors.New("authtest: the device code expired")
	ErrDeviceCodeDone    = errors.New("authtest: the device code was already approved or declined")
	ErrUnknownUser       = errors.New("authtest: no such user")
)

// userCodeAlphabet leaves out letters and digits people confuse.
const userCodeAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"

func newUserCode() string {
	b := make([]byte, 9)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = userCodeAlphabet[int(b[i])%len(userCodeAlphabet)]
	}
	return string(b)
}

// serveDeviceCode is the device authorization endpoint.
func (s *Server) serveDeviceCode(w http.ResponseWriter, r *http.Request, a *authority) {
	fail := func(e *oauthError) { s.writeOAuthError(w, r, a.kind, e) }
	if r.Method != http.MethodPost {
		fail(oerr("invalid_request", 900561, "The endpoint only accepts POST requests. Received a %s request.", r.Method))
		return
	}
	if formError(r) != nil {
		fail(oerr("invalid_request", 90023, "The request body is not a valid application/x-www-form-urlencoded form."))
		return
	}
	form := r.PostForm
	clientID := form.Get("client_id")
	if clientID == "" {
		fail(errMissingParam("client_id"))
		return
	}
	scope := form.Get("scope")
	if scope == "" {
		fail(errMissingParam("scope"))
		return
	}
	s.mu.Lock()
	c := s.clientLocked(clientID)
	s.mu.Unlock()
	if c == nil {
		fail(oerr("unauthorized_client", 700016, "Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", clientID, a.tenant))
		return
	}
	if _, e := s.parseScopes(scope, a.tid); e != nil {
		fail(e)
		return
	}
	now := s.Now()
	interval := s.cfg.deviceInterval
	g := &deviceGrant{
		clientID: c.ID, tid: a.tid, scope: scope,
		userCode: newUserCode(), deviceCode: randToken(48),
		expires: now.Add(s.cfg.deviceLifetime), interval: interval,
	}
	s.mu.Lock()
	s.devices[g.deviceCode] = g
	s.userCodes[g.userCode] = g
	s.mu.Unlock()
	verify := s.endpointHost(r) + "/devicelogin"
	body := map[string]any{
		"user_code":        g.userCode,
		"device_code":      g.deviceCode,
		"verification_uri": verify,
		"expires_in":       int64(s.cfg.deviceLifetime / time.Second),
		"interval":         int64(interval / time.Second),
		"message":          fmt.Sprintf("To sign in, use a web browser to open the page %s and enter the code %s to authenticate.", verify, g.userCode),
	}
	if a.kind == kindOIDC {
		body["verification_uri_complete"] = verify + "?user_code=" + g.userCode
	}
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) grantDeviceCode(w http.ResponseWriter, r *http.Request, a *authority, c *authenticatedClient, form url.Values, rc requestedClaims) *oauthError {
	dc := form.Get("device_code")
	if dc == "" {
		return errMissingParam("device_code")
	}
	now := s.Now()
	s.mu.Lock()
	g := s.devices[dc]
	if g == nil {
		s.mu.Unlock()
		return oerr("bad_verification_code", 70018, "The provided value for the input parameter 'device_code' is not valid: no device authorization has this device code.")
	}
	if g.clientID != c.ID {
		s.mu.Unlock()
		return oerr("invalid_grant", 70000, "The provided value for the 'device_code' parameter is not valid: it was issued to a different client.")
	}
	if g.state == deviceRedeemed {
		s.mu.Unlock()
		return oerr("invalid_grant", 54005, "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.")
	}
	if !now.Before(g.expires) {
		s.mu.Unlock()
		return oerr("expired_token", 70019, "The provided value for the input parameter 'device_code' is not valid. This device code has expired.")
	}
	if s.cfg.deviceSlowDown && g.state == devicePending && !g.lastPoll.IsZero() && now.Sub(g.lastPoll) < g.interval {
		g.interval += 5 * time.Second
		g.lastPoll = now
		s.mu.Unlock()
		return oerr("slow_down", 70016, "OAuth 2.0 device flow error. The client is polling too fast; poll every %d seconds.", int(g.interval/time.Second))
	}
	g.lastPoll = now
	switch g.state {
	case devicePending:
		s.mu.Unlock()
		return oerr("authorization_pending", 70016, "OAuth 2.0 device flow error. Authorization is pending. Continue polling.")
	case deviceDeclined:
		s.mu.Unlock()
		return oerr("authorization_declined", 65004, "User declined to consent to access the app.")
	}
	g.state = deviceRedeemed
	u := s.users[g.username]
	s.mu.Unlock()
	if u == nil {
		return oerr("invalid_grant", 50034, "The user account {EUII Hidden} does not exist in the %s directory. To sign into this application, the account must be added to the directory.", g.tid)
	}
	tid, e := s.userTenant(a, u)
	if e != nil {
		return e
	}
	q, e := s.parseScopes(g.scope, tid)
	if e != nil {
		return e
	}
	return s.issueUserTokens(w, r, a, c, form, userGrant{
		user: u, tid: tid, scopes: q, authTime: g.authTime, acr: u.ACR, amr: signInAMR(u), claims: rc, interactive: true,
	}, false)
}

// signInAMR is the amr of an interactive sign-in: MFA users complete it.
func signInAMR(u *User) []string {
	if u.MFA {
		return []string{"pwd", "mfa"}
	}
	return []string{"pwd"}
}

// ApproveDeviceCode signs username in on the device authorization whose
// user code is userCode, as if the user had entered the code at the
// verification page: the next poll of the device code grant gets tokens
// (or authorization_declined for a user with [User.DeclineConsent]). The
// errors wrap [ErrUnknownUserCode], [ErrDeviceCodeExpired],
// [ErrDeviceCodeDone] or [ErrUnknownUser].
func (s *Server) ApproveDeviceCode(userCode, username string) error {
	return s.decideDeviceCode(userCode, username, true)
}

// DeclineDeviceCode declines the device authorization whose user code is
// userCode: the next poll gets authorization_declined.
func (s *Server) DeclineDeviceCode(userCode string) error {
	return s.decideDeviceCode(userCode, "", false)
}

func (s *Server) decideDeviceCode(userCode, username string, approve bool) error {
	now := s.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.userCodes[strings.ToUpper(strings.TrimSpace(userCode))]
	if g == nil {
		return fmt.Errorf("%w: %q", ErrUnknownUserCode, userCode)
	}
	if !now.Before(g.expires) {
		return fmt.Errorf("%w: user code %q expired at %s", ErrDeviceCodeExpired, g.userCode, g.expires.Format(time.RFC3339))
	}
	if g.state != devicePending {
		return fmt.Errorf("%w: user code %q", ErrDeviceCodeDone, g.userCode)
	}
	if !approve {
		g.state = deviceDeclined
		return nil
	}
	u := s.userLocked(username)
	if u == nil {
		return fmt.Errorf("%w: %q", ErrUnknownUser, username)
	}
	if u.DeclineConsent {
		g.state = deviceDeclined
		return nil
	}
	g.state = deviceApproved
	g.username = strings.ToLower(u.Username)
	g.authTime = now
	s.consents[consentKey(g.clientID, u.ObjectID)] = true
	return nil
}

var deviceLoginPage = template.Must(template.New("devicelogin").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>authtest: enter code</title></head>
<body>
<h1>Enter code</h1>
{{if .Message}}<p id="message">{{.Message}}</p>{{end}}
<form method="post" action="/devicelogin">
<label>Code <input name="user_code" value="{{.UserCode}}" autocomplete="off"></label><br>
<label>Username <input name="username" value="{{.Username}}"></label><br>
<label>Password <input name="password" type="password"></label><br>
<button name="action" value="approve">Sign in</button>
<button name="action" value="decline">Cancel</button>
</form>
</body></html>
`))

// serveDeviceLogin is the verification page of the device code flow: a
// form for the user code, username and password.
func (s *Server) serveDeviceLogin(w http.ResponseWriter, r *http.Request) {
	data := struct{ Message, UserCode, Username string }{UserCode: r.URL.Query().Get("user_code")}
	status := http.StatusOK
	if r.Method == http.MethodPost && formError(r) == nil {
		f := r.PostForm
		data.UserCode, data.Username = f.Get("user_code"), f.Get("username")
		var err error
		if f.Get("action") == "decline" {
			err = s.DeclineDeviceCode(data.UserCode)
			if err == nil {
				data.Message = "You declined to sign in on the device. You can close this window."
			}
		} else {
			s.mu.Lock()
			u := s.userLocked(data.Username)
			ok := u != nil && u.passwordIs(f.Get("password"))
			s.mu.Unlock()
			if !ok {
				err = errors.New("your account or password is incorrect")
			} else if err = s.ApproveDeviceCode(data.UserCode, data.Username); err == nil {
				data.Message = "You have signed in on the device. You can close this window."
			}
		}
		if err != nil {
			status = http.StatusBadRequest
			data.Message = "Sign-in failed: " + strings.TrimPrefix(err.Error(), "authtest: ")
			s.logProblem(r, status, data.Message)
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = deviceLoginPage.Execute(w, data)
}
