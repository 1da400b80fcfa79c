package authtest

import (
	"strings"
)

// scopeRequest is what a request's scope parameter asks for.
type scopeRequest struct {
	openid, profile, email, offline bool
	api                             *API
	all                             bool     // resource/.default
	names                           []string // delegated scope names, as the API spells them
}

// parseScopes reads scope (space-separated). Bare names such as User.Read
// belong to Microsoft Graph; others are {resource}/{name} or
// {resource}/.default. All must name one API.
func (s *Server) parseScopes(scope, tenant string) (*scopeRequest, *oauthError) {
	req := &scopeRequest{}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sc := range strings.Fields(scope) {
		switch strings.ToLower(sc) {
		case "openid":
			req.openid = true
			continue
		case "profile":
			req.profile = true
			continue
		case "email":
			req.email = true
			continue
		case "offline_access":
			req.offline = true
			continue
		}
		var api *API
		var name string
		if !strings.Contains(sc, "/") {
			api = s.apis[GraphAudience]
			name = sc
			if api == nil {
				return nil, oerr("invalid_resource", 500011, "The resource principal named %s was not found in the tenant named %s. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.", GraphAudience, tenant)
			}
		} else {
			api, name = s.apiForScopeLocked(sc)
			if api == nil {
				i := strings.LastIndex(sc, "/")
				resource := sc[:i]
				if resource == "" || strings.HasSuffix(resource, ":/") {
					return nil, oerr("invalid_scope", 70011, "The provided value for the input parameter 'scope' is not valid. The scope %s is not valid.", sc)
				}
				return nil, oerr("invalid_resource", 500011, "The resource principal named %s was not found in the tenant named %s. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.", resource, tenant)
			}
		}
		if req.api != nil && req.api != api {
			return nil, oerr("invalid_scope", 700022, "The provided value for the input parameter scope is not valid because it contains more than one resource. Scope %s is not valid.", scope)
		}
		req.api = api
		if strings.EqualFold(name, ".default") {
			req.all = true
			continue
		}
		canon := ""
		for _, n := range api.Scopes {
			if strings.EqualFold(n, name) {
				canon = n
			}
		}
		if canon == "" {
			return nil, oerr("invalid_scope", 70011, "The provided value for the input parameter 'scope' is not valid. The scope %s is not valid.", sc)
		}
		if !containsFold(req.names, canon) {
			req.names = append(req.names, canon)
		}
	}
	if req.all && req.api != nil {
		req.names = append([]string(nil), req.api.Scopes...)
	}
	return req, nil
}

// responseScope is the scope parameter of a delegated token response:
// Graph's scopes bare, other APIs' prefixed with their audience, then the
// OpenID Connect scopes granted (offline_access is not echoed, as Entra
// does not echo it).
func (q *scopeRequest) responseScope() string {
	var out []string
	for _, n := range q.names {
		if q.api.AppID == GraphAppID {
			out = append(out, n)
		} else {
			out = append(out, q.api.Audience+"/"+n)
		}
	}
	if q.profile {
		out = append(out, "profile")
	}
	if q.openid {
		out = append(out, "openid")
	}
	if q.email {
		out = append(out, "email")
	}
	return strings.Join(out, " ")
}
