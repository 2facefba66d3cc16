package upstream_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgegw/gateway"
	"github.com/edgegw/gateway/internal/mqtttest"
)

// Test 6: mutual TLS (AWS IoT style) against mosquitto with a test CA and
// require_certificate.
func TestTLS(t *testing.T) { forEachVersion(t, testTLS) }

func testTLS(t *testing.T) {
	dir := t.TempDir()
	pki := mqtttest.NewPKI(t, "gw1")
	tlsPort := mqtttest.FreePort(t)
	up := mqtttest.StartMosquitto(t, mqtttest.WithListener(tlsPort,
		"cafile "+pki.CA, "certfile "+pki.ServerCert, "keyfile "+pki.ServerKey, "require_certificate true"))
	rec := mqtttest.Subscribe(t, up.URL(), "#") // on the plain listener

	cfg := testConfig(t, fmt.Sprintf("mqtts://127.0.0.1:%d", tlsPort))
	cfg.CAFile, cfg.CertFile, cfg.KeyFile = pki.CA, pki.ClientCert, pki.ClientKey
	g := startGW(t, filepath.Join(dir, "buffer.db"), cfg, nil, nil)
	if err := g.in.Publish(t.Context(), gateway.Message{Topic: "site/tls", Payload: []byte("secure")}); err != nil {
		t.Fatal(err)
	}
	got := rec.Wait(t, 1, 10*time.Second)
	if got[0].Topic != "edge/gw1/site/tls" || got[0].Payload != "secure" {
		t.Errorf("upstream got %v, want edge/gw1/site/tls secure", got[0])
	}
	g.waitEmpty(t)

	// Without the client certificate the upstream refuses and it stays buffered.
	cfg.CertFile, cfg.KeyFile = "", ""
	cfg.ClientID = "gw-nocert"
	g2 := startGW(t, filepath.Join(dir, "buffer2.db"), cfg, nil, nil)
	if err := g2.in.Publish(t.Context(), gateway.Message{Topic: "site/tls", Payload: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the uplink down with an error", 10*time.Second, func() bool {
		st := g2.fwd.Status()
		return st.State == "down" && st.LastErr != ""
	})
	t.Logf("without a client certificate: %s", g2.fwd.Status().LastErr)
	if s, _ := g2.buf.Stats(t.Context()); s.Depth != 1 {
		t.Errorf("depth without a certificate: got %d, want 1", s.Depth)
	}
}
