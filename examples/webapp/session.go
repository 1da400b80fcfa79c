package main

import (
	"crypto/rand"
	"net/http"
	"sync"
	"time"

	"github.com/bearerhttp/bearer/flow"
)

// session is what the server keeps for one browser. The browser holds
// only its random ID, in a cookie; the AuthCodeFlow (whose PKCE verifier
// is a secret) and the account never leave the server.
//
// The sessions live in this process's memory, as the token cache does
// by default: an app on several instances keeps both in a shared store
// (flow.WithCache with a cache/redisstore store for the tokens).
type session struct {
	// csrf is the token every form of the session carries back: a POST
	// without it is refused.
	csrf string
	// account is the signed-in user; zero when nobody is signed in.
	account flow.Account
	// name is the user's display name, from the ID token.
	name string
	// pending is the sign-in under way, if any: one per session, so a
	// second sign-in started in another tab replaces the first, whose
	// response then fails the state check.
	pending *pendingSignIn
	// signedInFor and signedInAt say which page asked for the last
	// sign-in and when: a page that asks for another sign-in right after
	// the one it asked for shows an error instead of looping.
	signedInFor string
	signedInAt  time.Time

	lastUsed time.Time
}

// pendingSignIn is a sign-in under way: the flow to complete and the
// page to return to.
type pendingSignIn struct {
	flow    flow.AuthCodeFlow
	next    string
	started time.Time
	again   bool // next asked for it: a challenge only the user could satisfy
}

// sessionStore holds the sessions by ID. Sessions unused for idle expire;
// at most max are kept (the least recently used goes first).
type sessionStore struct {
	now  func() time.Time
	idle time.Duration
	max  int

	mu sync.Mutex
	m  map[string]*session
}

func newSessionStore(now func() time.Time, idle time.Duration, max int) *sessionStore {
	return &sessionStore{now: now, idle: idle, max: max, m: map[string]*session{}}
}

// get returns a copy of the session id names, when it exists and has not
// expired, and marks it used.
func (st *sessionStore) get(id string) (session, bool) {
	s, ok := st.update(id, func(*session) {})
	return s, ok
}

// create makes an empty session and returns its ID.
func (st *sessionStore) create() (string, session) {
	st.mu.Lock()
	defer st.mu.Unlock()
	now := st.now()
	if len(st.m) >= st.max {
		st.evictLocked(now)
	}
	id := rand.Text()
	s := &session{csrf: rand.Text(), lastUsed: now}
	st.m[id] = s
	return id, *s
}

// update applies fn to the session id names and returns a copy of the
// result; false when there is no such session (or it expired).
func (st *sessionStore) update(id string, fn func(*session)) (session, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	s, ok := st.m[id]
	if !ok || id == "" {
		return session{}, false
	}
	now := st.now()
	if now.Sub(s.lastUsed) > st.idle {
		delete(st.m, id)
		return session{}, false
	}
	s.lastUsed = now
	fn(s)
	return *s, true
}

// rotate moves the session id names to a new ID (and a new CSRF token),
// after fn changed it, and returns the new ID: done at sign-in, so that an
// ID planted in the browser before (session fixation) is worth nothing.
func (st *sessionStore) rotate(id string, fn func(*session)) (string, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	s, ok := st.m[id]
	if !ok {
		return "", false
	}
	delete(st.m, id)
	fn(s)
	s.csrf, s.lastUsed = rand.Text(), st.now()
	newID := rand.Text()
	st.m[newID] = s
	return newID, true
}

// delete forgets the session id names.
func (st *sessionStore) delete(id string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	delete(st.m, id)
}

// len returns the number of sessions kept.
func (st *sessionStore) len() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.m)
}

// evictLocked drops the expired sessions, and the least recently used
// one when none had expired. st.mu must be held.
func (st *sessionStore) evictLocked(now time.Time) {
	var oldestID string
	var oldest time.Time
	for id, s := range st.m {
		if now.Sub(s.lastUsed) > st.idle {
			delete(st.m, id)
			continue
		}
		if oldestID == "" || s.lastUsed.Before(oldest) {
			oldestID, oldest = id, s.lastUsed
		}
	}
	if len(st.m) >= st.max && oldestID != "" {
		delete(st.m, oldestID)
	}
}

// cookieName is the session cookie's name: with the __Host- prefix over
// HTTPS (the browser then insists on Secure, Path=/ and no Domain).
func (a *webApp) cookieName() string {
	if a.secure {
		return "__Host-webapp_session"
	}
	return "webapp_session"
}

// sessionOf returns the session of r's cookie, if any.
func (a *webApp) sessionOf(r *http.Request) (string, session, bool) {
	c, err := r.Cookie(a.cookieName())
	if err != nil {
		return "", session{}, false
	}
	s, ok := a.sessions.get(c.Value)
	if !ok {
		return "", session{}, false
	}
	return c.Value, s, true
}

// setSessionCookie gives the browser the session's ID: HttpOnly (no
// script reads it), SameSite=Lax (sent on the top-level GET that brings
// the user back from the authority, not on cross-site POSTs), Secure over
// HTTPS. A session cookie of the browser: it ends with the browser, and
// the server forgets the session after its idle time anyway.
//
// Lax is enough because the authority answers with response_mode=query (a
// GET redirect). An app asking for response_mode=form_post would need
// SameSite=None; Secure, since Entra's POST to the redirect URI is
// cross-site and a Lax cookie does not go with it.
func (a *webApp) setSessionCookie(w http.ResponseWriter, id string) {
	http.SetCookie(w, &http.Cookie{
		Name: a.cookieName(), Value: id, Path: "/",
		HttpOnly: true, Secure: a.secure, SameSite: http.SameSiteLaxMode,
	})
}

// clearSessionCookie makes the browser drop the session cookie.
func (a *webApp) clearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name: a.cookieName(), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: a.secure, SameSite: http.SameSiteLaxMode,
	})
}
