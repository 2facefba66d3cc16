package web

import (
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	check := func(string, string) error { return nil }
	tests := []struct {
		name     string
		cfg      Config
		wantErr  error // nil: valid
		needAuth bool
	}{
		{"loopback v4", Config{Address: "127.0.0.1:8080"}, nil, false},
		{"loopback v6", Config{Address: "[::1]:8080"}, nil, false},
		{"localhost", Config{Address: "localhost:8080"}, nil, false},
		{"all interfaces, token", Config{Address: ":8080", Token: "s3cret"}, nil, true},
		{"lan, password file", Config{Address: "192.168.1.5:8080", Authenticate: check}, nil, true},
		{"all interfaces, no auth", Config{Address: "0.0.0.0:8080"}, ErrNoAuth, true},
		{"no port", Config{Address: "127.0.0.1"}, errAny, true},
		{"negative interval", Config{Address: "127.0.0.1:1", SampleInterval: -1}, errAny, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			switch {
			case tt.wantErr == nil && err != nil:
				t.Errorf("Validate = %v, want nil", err)
			case tt.wantErr == errAny && err == nil:
				t.Errorf("Validate = nil, want an error")
			case tt.wantErr != nil && tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
				t.Errorf("Validate = %v, want %v", err, tt.wantErr)
			}
			if got := tt.cfg.NeedsAuth(); got != tt.needAuth {
				t.Errorf("NeedsAuth = %v, want %v", got, tt.needAuth)
			}
		})
	}
}

var errAny = errors.New("any error")

func TestNewRefusesOpenAddress(t *testing.T) {
	_, err := New(Config{Address: "0.0.0.0:0"}, Sources{}, discardLog())
	if !errors.Is(err, ErrNoAuth) {
		t.Fatalf("New = %v, want ErrNoAuth", err)
	}
}

func TestSecretRedacted(t *testing.T) {
	var b strings.Builder
	cfg := Config{Token: "s3cret-token"}
	logger := slogTo(&b)
	logger.Info("config", "token", cfg.Token, "cfg", cfg)
	if strings.Contains(b.String(), "s3cret") {
		t.Errorf("log shows the token: %s", b.String())
	}
}

func TestAuth(t *testing.T) {
	var checks atomic.Int32
	users := func(user, password string) error {
		checks.Add(1)
		if user == "alice" && password == "wonderland" {
			return nil
		}
		return errors.New("bad password")
	}
	const token = "t0ken-t0ken"
	f := newFakes()
	_, open := testServer(t, Config{}, f)
	_, guarded := testServer(t, Config{Address: "0.0.0.0:8080", Token: token, Authenticate: users}, f)
	_, tokenOnly := testServer(t, Config{Address: "0.0.0.0:8080", Token: token}, f)

	basic := func(u, p string) string {
		req, _ := http.NewRequest(http.MethodGet, "/", nil)
		req.SetBasicAuth(u, p)
		return req.Header.Get("Authorization")
	}
	tests := []struct {
		name string
		url  string
		auth string
		want int
	}{
		{"loopback needs nothing", open.URL, "", 200},
		{"none", guarded.URL, "", 401},
		{"bearer", guarded.URL, "Bearer " + token, 200},
		{"bearer lower-case scheme", guarded.URL, "bearer " + token, 200},
		{"wrong bearer", guarded.URL, "Bearer nope", 401},
		{"basic user", guarded.URL, basic("alice", "wonderland"), 200},
		{"basic wrong password", guarded.URL, basic("alice", "nope"), 401},
		{"basic unknown user", guarded.URL, basic("bob", "wonderland"), 401},
		{"basic token as password", guarded.URL, basic("anyone", token), 200},
		{"token only: basic user refused", tokenOnly.URL, basic("alice", "wonderland"), 401},
		{"token only: bearer", tokenOnly.URL, "Bearer " + token, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, path := range []string{"/", "/api/status", "/api/buffer/messages", "/metrics"} {
				var hdr []string
				if tt.auth != "" {
					hdr = []string{"Authorization", tt.auth}
				}
				code, h, body := get(t, tt.url+path, hdr...)
				if code != tt.want {
					t.Errorf("GET %s: status %d, want %d", path, code, tt.want)
				}
				if code == 401 {
					if got := h.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Basic ") {
						t.Errorf("GET %s: WWW-Authenticate %q, want Basic", path, got)
					}
					if strings.Contains(body, token) {
						t.Errorf("GET %s: 401 body shows the token", path)
					}
				}
			}
		})
	}

	// A success is cached: the slow check does not run for every request.
	before := checks.Load()
	for range 3 {
		if code, _, _ := get(t, guarded.URL+"/api/status", "Authorization", basic("alice", "wonderland")); code != 200 {
			t.Fatalf("status %d", code)
		}
	}
	if got := checks.Load() - before; got != 0 {
		t.Errorf("password checks for cached user = %d, want 0", got)
	}
}

func TestAuthCacheExpires(t *testing.T) {
	var checks int
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	a := newAuthenticator("", func(u, p string) error { checks++; return nil }, func() time.Time { return now })
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	req.SetBasicAuth("alice", "pw")
	for _, step := range []time.Duration{0, time.Second, authCacheTTL} {
		now = now.Add(step)
		if _, ok := a.allow(req); !ok {
			t.Fatal("allow = false")
		}
	}
	if checks != 2 {
		t.Errorf("checks = %d, want 2 (first, and after the TTL)", checks)
	}
}
