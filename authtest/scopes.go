package authtest

import (
	"strings"
)

// scopeRequest is what a request's scope parameter asks for.
type scopeRequest struct {
	openid, profile, email, offline bool
	api                             *API
	all                             bool              // resource/.default
	names                           []string          // delegated scope names, as the API spells them
	prefixes                        map[string]string // name → the resource prefix the request spelled it with ("" for bare Graph names)
	defaultScope                    string            // the resource/.default scope as the request spelled it
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
		bare := !strings.Contains(sc, "/")
		if bare {
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
		prefix := ""
		if !bare {
			prefix = sc[:len(sc)-len(name)]
		}
		if strings.EqualFold(name, ".default") {
			req.all = true
			if req.defaultScope == "" {
				req.defaultScope = sc
			}
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
			if req.prefixes == nil {
				req.prefixes = map[string]string{}
			}
			req.prefixes[canon] = prefix
		}
	}
	if req.all && len(req.names) > 0 {
		// Entra: AADSTS70011 "... .default scope can't be combined with
		// resource-specific scopes."
		return nil, oerr("invalid_scope", 70011, "The provided value for the input parameter 'scope' is not valid. The scope %s is not valid. .default scope can't be combined with resource-specific scopes.", scope)
	}
	if req.all && req.api != nil {
		req.names = append([]string(nil), req.api.Scopes...)
	}
	return req, nil
}

// responseScope is the scope parameter of a delegated token response,
// as Entra writes it:
//
//   - each granted scope with the resource prefix the request spelled it
//     with (bare for Graph names asked for bare, such as User.Read;
//     https://graph.microsoft.com/User.Read when asked for so; the prefix
//     of resource/.default for the scopes .default granted);
//   - then, for Microsoft Graph only, the OpenID Connect scopes granted
//     (profile, openid, email: they are Graph's permissions, so a token
//     for another API does not list them; offline_access is never
//     echoed);
//   - last, for a request of resource/.default, that scope itself as the
//     request spelled it.
//
// Entra's answer to .default in delegated grants lists the permissions
// granted and .default itself. Recorded answers: MSAL Go's
// apps/tests/integration/serialized_cache_1.1.1.json (a cache MSAL Go
// wrote from Entra's answer to its TestAccountFromCache sign-in for
// https://graph.windows.net/.default: the access token's target, which
// MSAL Go takes from the response's scope, lists
// https://graph.windows.net/{each permission} then
// https://graph.windows.net/.default, and no OpenID scopes); MSAL.NET's
// tests/Microsoft.Identity.Test.Common/Core/Mocks/MockHelpers.cs
// (GetTokenResponseWithNoOidClaim, an authorization code answer for
// https://management.core.windows.net//.default: "scope":
// "https://management.core.windows.net//user_impersonation
// https://management.core.windows.net//.default"). MSAL Python's live
// on-behalf-of test (tests/test_e2e.py, test_acquire_token_obo, for
// https://graph.microsoft.com/.default) finds the token again in its
// cache, which it keys by the response's scope, and MSAL Go (v1.10.1,
// apps/internal/base/base.go) fails a call whose requested scopes are not
// all in the response's scope ("declined scopes are present"): both hold
// only because Entra echoes .default. MSAL Go's live TestOnBehalfOf
// (apps/tests/integration) asks for https://graph.microsoft.com/user.read
// and passes, so Entra keeps the resource prefix of a Graph scope asked
// for with it.
func (q *scopeRequest) responseScope() string {
	defaultPrefix := ""
	if q.defaultScope != "" {
		defaultPrefix = q.defaultScope[:len(q.defaultScope)-len(".default")]
	}
	var out []string
	for _, n := range q.names {
		prefix, ok := q.prefixes[n]
		if !ok {
			prefix = defaultPrefix
		}
		out = append(out, prefix+n)
	}
	if q.api.AppID == GraphAppID {
		if q.profile {
			out = append(out, "profile")
		}
		if q.openid {
			out = append(out, "openid")
		}
		if q.email {
			out = append(out, "email")
		}
	}
	if q.defaultScope != "" {
		out = append(out, q.defaultScope)
	}
	return strings.Join(out, " ")
}
