package web

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/edgegw/gateway"
)

// authCacheTTL is how long a basic-auth success is remembered, so that the
// page's requests do not each pay for a slow password hash.
const authCacheTTL = time.Minute

// maxAuthCache bounds the success cache.
const maxAuthCache = 64

// authenticator checks a request's credentials: the bearer token, basic
// auth with the token as password, or basic auth via Config.Authenticate.
type authenticator struct {
	token []byte
	check func(user, password string) error
	now   func() time.Time

	sem chan struct{} // one slow password check at a time

	mu    sync.Mutex
	cache map[[32]byte]time.Time // sha256 of user NUL password -> expiry
}

func newAuthenticator(token gateway.Secret, check func(user, password string) error, now func() time.Time) *authenticator {
	a := &authenticator{check: check, now: now, sem: make(chan struct{}, 1), cache: make(map[[32]byte]time.Time)}
	if token != "" {
		a.token = []byte(token.Reveal())
	}
	return a
}

// allow reports whether r carries valid credentials, and the user name
// (for logs) it presented.
func (a *authenticator) allow(r *http.Request) (user string, ok bool) {
	if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "Bearer ") {
		return "", a.tokenOK(strings.TrimSpace(h[7:]))
	}
	user, pass, hasBasic := r.BasicAuth()
	if !hasBasic {
		return "", false
	}
	if a.tokenOK(pass) {
		return user, true
	}
	if a.check == nil {
		return user, false
	}
	key := sha256.Sum256([]byte(user + "\x00" + pass))
	now := a.now()
	a.mu.Lock()
	exp, cached := a.cache[key]
	a.mu.Unlock()
	if cached && now.Before(exp) {
		return user, true
	}
	select {
	case a.sem <- struct{}{}:
	case <-r.Context().Done():
		return user, false
	}
	err := a.check(user, pass)
	<-a.sem
	if err != nil {
		return user, false
	}
	a.mu.Lock()
	if len(a.cache) >= maxAuthCache {
		for k, e := range a.cache {
			if !now.Before(e) || len(a.cache) >= maxAuthCache {
				delete(a.cache, k)
			}
		}
	}
	a.cache[key] = now.Add(authCacheTTL)
	a.mu.Unlock()
	return user, true
}

func (a *authenticator) tokenOK(got string) bool {
	return a.token != nil && subtle.ConstantTimeCompare([]byte(got), a.token) == 1
}

// requireAuth wraps h so that requests without valid credentials get 401.
func (s *Server) requireAuth(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, ok := s.auth.allow(r)
		if !ok {
			// The user name only: never the password or token.
			s.log.Debug("web: unauthorized", "remote", r.RemoteAddr, "user", user, "path", r.URL.Path)
			w.Header().Set("WWW-Authenticate", `Basic realm="gateway", charset="UTF-8"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}
