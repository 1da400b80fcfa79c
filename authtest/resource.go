package authtest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// acrRule is a step-up requirement of [Server.RequireACR].
type acrRule struct {
	acr    string
	maxAge time.Duration
}

// Revoke is a continuous access evaluation (CAE) critical event: access
// tokens issued before this call to the given users
// (usernames or object IDs) or clients (client IDs), or to everyone when
// no subject is given, are refused by the resource with a claims
// challenge:
//
//	401 WWW-Authenticate: Bearer realm="", authorization_uri="{authority}/oauth2/authorize",
//	    client_id="00000003-0000-0000-c000-000000000000", error="insufficient_claims",
//	    claims="eyJhY2Nlc3NfdG9rZW4iOnsibmJmIjp7ImVzc2VudGlhbCI6dHJ1ZSwidmFsdWUiOiIxNzAwMDAwMDAwIn19fQ=="
//
// where the claims decode to {"access_token":{"nbf":{"essential":true,"value":"<revocation time>"}}}
// (the server clock's time of the call, in seconds). A token issued after
// the call (such as one requested with those claims) passes, also when
// the server's clock stands still.
//
// As Microsoft Graph does, only tokens of clients that declared the cp1
// capability (xms_cc) are evaluated: other tokens keep working until they
// expire. Refresh tokens are not affected; see [Server.RevokeRefreshTokens].
func (s *Server) Revoke(subjects ...string) { s.revoke(&s.revocations, subjects) }

// RequireAuthContext makes the resource demand the Conditional Access
// authentication context ids (such as "c1") for requests whose path starts
// with pathPrefix ("/" for every path): a token whose acrs claim lacks one
// of them gets a claims challenge (error="insufficient_claims") whose
// claims decode to {"access_token":{"acrs":{"essential":true,"value":"c1"}}}
// ("values" for several). The token endpoint grants the acrs a request's
// claims parameter asks for. Calling it with no ids removes the
// requirement for pathPrefix.
func (s *Server) RequireAuthContext(pathPrefix string, ids ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(ids) == 0 {
		delete(s.authContexts, pathPrefix)
		return
	}
	s.authContexts[pathPrefix] = slices.Clone(ids)
}

// RequireACR makes the resource demand, for requests whose path starts with
// pathPrefix, a token whose acr claim is acr (any acr when empty) and whose
// auth_time is at most maxAge ago on the server clock (no limit when 0).
// Other tokens get an RFC 9470 step-up challenge:
//
//	401 WWW-Authenticate: Bearer error="insufficient_user_authentication",
//	    error_description="A different authentication level is required", acr_values="{acr}", max_age="{seconds}"
//
// A sign-in through the authorization endpoint with acr_values (and
// max_age) satisfies it; the refresh token grant keeps the acr and
// auth_time of the original sign-in, so it cannot. RequireACR(pathPrefix,
// "", 0) removes the requirement.
func (s *Server) RequireACR(pathPrefix, acr string, maxAge time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if acr == "" && maxAge == 0 {
		delete(s.acrRules, pathPrefix)
		return
	}
	s.acrRules[pathPrefix] = acrRule{acr: acr, maxAge: maxAge}
}

// graphError writes Microsoft Graph's error shape.
func (s *Server) graphError(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	s.logProblem(r, status, code+": "+message)
	writeJSON(w, status, map[string]any{"error": map[string]any{
		"code":    code,
		"message": message,
		"innerError": map[string]any{
			"date":              s.Now().UTC().Format("2006-01-02T15:04:05"),
			"request-id":        newGUID(),
			"client-request-id": r.Header.Get("client-request-id"),
		},
	}})
}

// challenge answers 401 with a Bearer challenge.
func (s *Server) challenge(w http.ResponseWriter, r *http.Request, header, code, message string) {
	w.Header().Set("WWW-Authenticate", header)
	s.graphError(w, r, http.StatusUnauthorized, code, message)
}

func (s *Server) entraChallenge(tid, resourceAppID string, params ...string) string {
	if tid == "" {
		tid = tenantCommon
	}
	h := fmt.Sprintf(`Bearer realm="", authorization_uri="%s/oauth2/authorize", client_id="%s"`, s.Authority(tid), resourceAppID)
	for i := 0; i+1 < len(params); i += 2 {
		h += fmt.Sprintf(`, %s="%s"`, params[i], params[i+1])
	}
	return h
}

func encodeClaims(v any) string {
	b, _ := json.Marshal(v)
	return base64.StdEncoding.EncodeToString(b)
}

// serveResource is the protected resource: Graph-like routes under
// /v1.0/ for tokens issued for Microsoft Graph, and for every other path
// an echo of the request and the token for tokens issued for any
// registered API.
func (s *Server) serveResource(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	graph := strings.HasPrefix(path, "/v1.0/") || path == "/v1.0"
	resourceAppID := GraphAppID
	authz := r.Header.Get("Authorization")
	scheme, tok, _ := strings.Cut(authz, " ")
	tok = strings.TrimSpace(tok)
	dpop := strings.EqualFold(scheme, "DPoP")
	if authz == "" || !(strings.EqualFold(scheme, "Bearer") || dpop) || tok == "" {
		s.challenge(w, r, s.entraChallenge("", resourceAppID), "InvalidAuthenticationToken", "Access token is empty.")
		return
	}
	t, err := s.verifyOwnToken(tok)
	if err != nil {
		s.challenge(w, r, s.entraChallenge("", resourceAppID, "error", "invalid_token", "error_description", "The token's signature does not verify"),
			"InvalidAuthenticationToken", "Access token validation failure. Invalid signature or token format.")
		return
	}
	if !s.resourceDPoP(w, r, t, tok, dpop) {
		return
	}
	tid := t.str("tid")
	aud := t.str("aud")
	var api *API
	s.mu.Lock()
	if graph {
		if containsFold(graphAudiences, aud) || aud == GraphAppID {
			api = s.apis[GraphAudience]
			if api == nil {
				api = &API{Audience: GraphAudience, AppID: GraphAppID}
			}
		}
	} else {
		api = s.apiLocked(aud)
	}
	s.mu.Unlock()
	if api == nil {
		s.challenge(w, r, s.entraChallenge(tid, resourceAppID, "error", "invalid_token", "error_description", "The token's audience is not this resource"),
			"InvalidAuthenticationToken", "Access token validation failure. Invalid audience.")
		return
	}
	resourceAppID = api.AppID
	now := s.Now()
	exp, _ := t.num("exp")
	nbf, hasNbf := t.num("nbf")
	if now.Unix() >= exp || (hasNbf && now.Unix() < nbf) {
		s.challenge(w, r, s.entraChallenge(tid, resourceAppID, "error", "invalid_token", "error_description", "The token is expired"),
			"InvalidAuthenticationToken", "Lifetime validation failed, the token is expired.")
		return
	}
	if h, msg := s.policyChallenge(t, path, now); h != "" {
		s.challenge(w, r, s.entraChallengeIf(h, tid, resourceAppID), "InvalidAuthenticationToken", msg)
		return
	}
	if graph {
		s.serveGraph(w, r, t)
		return
	}
	body, _ := readBody(r, maxFormSize)
	writeJSON(w, http.StatusOK, map[string]any{
		"method": r.Method,
		"path":   path,
		"query":  r.URL.RawQuery,
		"aud":    aud,
		"tid":    tid,
		"oid":    t.str("oid"),
		"sub":    t.str("sub"),
		"appid":  t.str("appid"),
		"scp":    t.str("scp"),
		"roles":  claimStrings(t.claims, "roles"),
		"acrs":   claimStrings(t.claims, "acrs"),
		"body":   string(body),
	})
}

// entraChallengeIf completes a policy challenge: CAE challenges carry
// Entra's realm, authorization_uri and client_id; step-up challenges
// (RFC 9470) are sent as they are.
func (s *Server) entraChallengeIf(h, tid, resourceAppID string) string {
	if strings.HasPrefix(h, "insufficient_claims ") {
		return s.entraChallenge(tid, resourceAppID, "error", "insufficient_claims", "claims", strings.TrimPrefix(h, "insufficient_claims "))
	}
	return h
}

// policyChallenge checks a valid token against revocations, required
// authentication contexts and step-up rules. It returns "" when the
// token passes, "insufficient_claims <claims>" for a CAE challenge, or a
// whole step-up challenge header.
func (s *Server) policyChallenge(t *jwt, path string, now time.Time) (string, string) {
	s.mu.Lock()
	issued, ok := s.issued[t.str("uti")]
	revs := slices.Clone(s.revocations)
	var ctxIDs []string
	var rules []acrRule
	for prefix, ids := range s.authContexts {
		if strings.HasPrefix(path, prefix) {
			ctxIDs = append(ctxIDs, ids...)
		}
	}
	prefixes := make([]string, 0, len(s.acrRules))
	for p := range s.acrRules {
		prefixes = append(prefixes, p)
	}
	sort.Strings(prefixes)
	for _, p := range prefixes {
		if strings.HasPrefix(path, p) {
			rules = append(rules, s.acrRules[p])
		}
	}
	s.mu.Unlock()
	if !ok {
		iat, _ := t.num("iat")
		issued = issue{at: time.Unix(iat, 0)}
	}
	if containsFold(claimStrings(t.claims, "xms_cc"), "cp1") {
		at := revokedSince(revs, issued, t.str("oid"), t.str("preferred_username"), t.str("upn"), t.str("appid"), t.str("azp"))
		if !at.IsZero() {
			c := encodeClaims(map[string]any{"access_token": map[string]any{"nbf": map[string]any{"essential": true, "value": strconv.FormatInt(at.Unix(), 10)}}})
			return "insufficient_claims " + c, "The token was revoked (continuous access evaluation); present a token issued after the revocation."
		}
	}
	have := claimStrings(t.claims, "acrs")
	var missing []string
	for _, id := range ctxIDs {
		if !slices.Contains(have, id) && !slices.Contains(missing, id) {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		req := map[string]any{"essential": true}
		if len(ctxIDs) == 1 {
			req["value"] = ctxIDs[0]
		} else {
			req["values"] = ctxIDs
		}
		c := encodeClaims(map[string]any{"access_token": map[string]any{"acrs": req}})
		return "insufficient_claims " + c, "The token lacks the authentication context " + strings.Join(missing, ", ") + "."
	}
	for _, rule := range rules {
		acrOK := rule.acr == "" || t.str("acr") == rule.acr
		ageOK := true
		if rule.maxAge > 0 {
			at, ok := t.num("auth_time")
			ageOK = ok && now.Sub(time.Unix(at, 0)) <= rule.maxAge
		}
		if acrOK && ageOK {
			continue
		}
		h := `Bearer error="insufficient_user_authentication"`
		if !acrOK {
			h += `, error_description="A different authentication level is required"`
		} else {
			h += `, error_description="More recent authentication is required"`
		}
		if rule.acr != "" {
			h += fmt.Sprintf(`, acr_values="%s"`, rule.acr)
		}
		if rule.maxAge > 0 {
			h += fmt.Sprintf(`, max_age="%d"`, int64(rule.maxAge/time.Second))
		}
		return h, "The token's authentication does not meet the resource's requirement (step-up required)."
	}
	return "", ""
}

// graphUser is a user as Microsoft Graph shows one.
func graphUser(u *User) map[string]any {
	given, _, _ := strings.Cut(u.DisplayName, " ")
	return map[string]any{
		"id":                u.ObjectID,
		"displayName":       u.DisplayName,
		"givenName":         given,
		"userPrincipalName": u.Username,
		"mail":              u.Username,
	}
}

// serveGraph serves the Graph-like routes: /v1.0/me, /v1.0/users,
// /v1.0/users/{id}, /v1.0/me/messages and /v1.0/users/{id}/messages.
func (s *Server) serveGraph(w http.ResponseWriter, r *http.Request, t *jwt) {
	segs := strings.Split(strings.Trim(strings.TrimPrefix(r.URL.Path, "/v1.0"), "/"), "/")
	scp := strings.Fields(t.str("scp"))
	roles := claimStrings(t.claims, "roles")
	delegated := t.str("idtyp") != "app" && len(scp) > 0
	tid := t.str("tid")
	self := func() *User {
		s.mu.Lock()
		u := s.userLocked(t.str("oid"))
		s.mu.Unlock()
		if u == nil {
			u = &User{ObjectID: t.str("oid"), Username: t.str("preferred_username"), DisplayName: t.str("name"), TenantID: tid}
		}
		return u
	}
	lookup := func(id string) *User {
		if strings.EqualFold(id, "me") {
			if !delegated {
				return nil
			}
			return self()
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		u := s.userLocked(id)
		if u == nil || !u.memberOf(tid) {
			return nil
		}
		return u
	}
	anyOf := func(have []string, want ...string) bool {
		for _, h := range have {
			if containsFold(want, h) {
				return true
			}
		}
		return false
	}
	denied := func() {
		s.graphError(w, r, http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
	}
	if r.Method != http.MethodGet {
		s.graphError(w, r, http.StatusMethodNotAllowed, "Request_BadRequest", "Only GET is supported by this stand-in of Microsoft Graph.")
		return
	}
	isMe := len(segs) > 0 && segs[0] == "me"
	if isMe && !delegated {
		s.graphError(w, r, http.StatusBadRequest, "BadRequest", "/me request is only valid with delegated authentication flow.")
		return
	}
	switch {
	case len(segs) == 1 && segs[0] == "me":
		if !anyOf(scp, "User.Read", "User.ReadBasic.All", "User.Read.All") {
			denied()
			return
		}
		u := graphUser(self())
		u["@odata.context"] = "https://graph.microsoft.com/v1.0/$metadata#users/$entity"
		writeJSON(w, http.StatusOK, u)
	case len(segs) == 1 && segs[0] == "users":
		if !anyOf(scp, "User.ReadBasic.All", "User.Read.All") && !anyOf(roles, "User.Read.All") {
			denied()
			return
		}
		s.mu.Lock()
		var list []*User
		for _, u := range s.users {
			if u.memberOf(tid) {
				list = append(list, u)
			}
		}
		s.mu.Unlock()
		sort.Slice(list, func(i, j int) bool { return list[i].Username < list[j].Username })
		value := []map[string]any{}
		for _, u := range list {
			value = append(value, graphUser(u))
		}
		writeJSON(w, http.StatusOK, map[string]any{"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users", "value": value})
	case len(segs) == 2 && segs[0] == "users":
		u := lookup(segs[1])
		isSelf := u != nil && delegated && strings.EqualFold(u.ObjectID, t.str("oid"))
		if !(isSelf && anyOf(scp, "User.Read")) && !anyOf(scp, "User.ReadBasic.All", "User.Read.All") && !anyOf(roles, "User.Read.All") {
			denied()
			return
		}
		if u == nil {
			s.graphError(w, r, http.StatusNotFound, "Request_ResourceNotFound", fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", segs[1]))
			return
		}
		out := graphUser(u)
		out["@odata.context"] = "https://graph.microsoft.com/v1.0/$metadata#users/$entity"
		writeJSON(w, http.StatusOK, out)
	case (len(segs) == 2 && isMe && segs[1] == "messages") || (len(segs) == 3 && segs[0] == "users" && segs[2] == "messages"):
		id := "me"
		if !isMe {
			id = segs[1]
		}
		u := lookup(id)
		isSelf := u != nil && delegated && strings.EqualFold(u.ObjectID, t.str("oid"))
		if !(isSelf && anyOf(scp, "Mail.Read")) && !anyOf(roles, "Mail.Read") {
			denied()
			return
		}
		if u == nil {
			s.graphError(w, r, http.StatusNotFound, "ErrorInvalidUser", fmt.Sprintf("The requested user '%s' is invalid.", id))
			return
		}
		top := 10
		if v := r.URL.Query().Get("$top"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 1000 {
				s.graphError(w, r, http.StatusBadRequest, "BadRequest", "Invalid value '"+v+"' for query option $top.")
				return
			}
			top = n
		}
		msgs := cannedMessages(u)
		if top < len(msgs) {
			msgs = msgs[:top]
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users('" + u.ObjectID + "')/messages",
			"value":          msgs,
		})
	default:
		s.graphError(w, r, http.StatusBadRequest, "BadRequest", "Resource not found for the segment '"+strings.Join(segs, "/")+"'.")
	}
}

// cannedMessages are a user's mailbox: five messages, newest first.
func cannedMessages(u *User) []map[string]any {
	base := time.Date(2025, 1, 10, 9, 0, 0, 0, time.UTC)
	var out []map[string]any
	for i := 5; i >= 1; i-- {
		out = append(out, map[string]any{
			"id":               derivedGUID("msg", u.ObjectID+strconv.Itoa(i)),
			"subject":          fmt.Sprintf("Message %d", i),
			"bodyPreview":      fmt.Sprintf("This is message %d for %s.", i, u.DisplayName),
			"receivedDateTime": base.Add(time.Duration(i) * 24 * time.Hour).Format(time.RFC3339),
			"isRead":           i < 3,
			"from": map[string]any{"emailAddress": map[string]any{
				"name": "authtest", "address": "noreply@authtest.example",
			}},
		})
	}
	return out
}
