package web

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/gateway/internal/mqtttest"
)

// serve runs a server for cfg over real TCP until the test ends.
func serve(t *testing.T, cfg Config) *Server {
	t.Helper()
	s, err := New(cfg, newFakes().sources(), discardLog())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("web server did not stop")
		}
	})
	return s
}

// TestHostHeaderLoopback: without a login (on loopback) the server answers
// only requests for localhost or a loopback address: a page of another
// site whose name resolves to 127.0.0.1 (DNS rebinding) gets 421, not the
// status.
func TestHostHeaderLoopback(t *testing.T) {
	s := serve(t, Config{Address: "127.0.0.1:0", SampleInterval: time.Hour})
	addr := s.Addr().String()
	_, port, _ := strings.Cut(addr, ":")
	for _, tc := range []struct {
		host string
		want int
	}{
		{"attacker.example", http.StatusMisdirectedRequest},
		{"attacker.example:" + port, http.StatusMisdirectedRequest},
		{"127.0.0.1.nip.io:" + port, http.StatusMisdirectedRequest},
		{addr, http.StatusOK},
		{"localhost:" + port, http.StatusOK},
		{"[::1]:" + port, http.StatusOK},
	} {
		req, err := http.NewRequestWithContext(t.Context(), "GET", "http://"+addr+"/api/status", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = tc.host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("Host %q: status %d, want %d", tc.host, resp.StatusCode, tc.want)
		}
	}
	if n := s.hostRefused.Load(); n != 3 {
		t.Errorf("refused = %d, want 3", n)
	}
}

// TestTLS: with cert_file and key_file the page is served over HTTPS only.
func TestTLS(t *testing.T) {
	pki := mqtttest.NewPKI(t, "client")
	s := serve(t, Config{Address: "127.0.0.1:0", SampleInterval: time.Hour, CertFile: pki.ServerCert, KeyFile: pki.ServerKey})
	pem, err := os.ReadFile(pki.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 30 * time.Second}
	resp, err := c.Get("https://" + s.Addr().String() + "/api/status")
	if err != nil {
		t.Fatalf("https: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("https status %d, want 200", resp.StatusCode)
	}
	plain := &http.Client{Timeout: 30 * time.Second}
	if resp, err := plain.Get("http://" + s.Addr().String() + "/api/status"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain http got 200 from the HTTPS server")
		}
	}
	if _, err := New(Config{Address: "127.0.0.1:0", CertFile: pki.ServerCert}, Sources{}, discardLog()); err == nil {
		t.Error("cert_file without key_file accepted")
	}
}
