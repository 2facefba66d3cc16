package upstream_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgegw/gateway"
)

// testPKI writes a CA, a server certificate for 127.0.0.1 and a client
// certificate (PEM) into dir.
type testPKI struct {
	ca, serverCert, serverKey, clientCert, clientKey string
}

func newTestPKI(t *testing.T, dir string) testPKI {
	t.Helper()
	p := testPKI{
		ca:         filepath.Join(dir, "ca.pem"),
		serverCert: filepath.Join(dir, "server.pem"),
		serverKey:  filepath.Join(dir, "server.key"),
		clientCert: filepath.Join(dir, "client.pem"),
		clientKey:  filepath.Join(dir, "client.key"),
	}
	now := time.Now()
	caKey := genKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, p.ca, "CERTIFICATE", caDER)
	leaf := func(serial int64, cn string, usage x509.ExtKeyUsage, certPath, keyPath string) {
		key := genKey(t)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: cn},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		}
		if usage == x509.ExtKeyUsageServerAuth {
			tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		writePEM(t, certPath, "CERTIFICATE", der)
		kder, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		writePEM(t, keyPath, "EC PRIVATE KEY", kder)
	}
	leaf(2, "127.0.0.1", x509.ExtKeyUsageServerAuth, p.serverCert, p.serverKey)
	leaf(3, "gw1", x509.ExtKeyUsageClientAuth, p.clientCert, p.clientKey)
	return p
}

func genKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// Test 6: mutual TLS (AWS IoT style) against mosquitto with a test CA and
// require_certificate.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	pki := newTestPKI(t, dir)
	tlsPort := freePort(t)
	up := newMosquitto(t, tlsPort, fmt.Sprintf(`listener %d 127.0.0.1
cafile %s
certfile %s
keyfile %s
require_certificate true
`, tlsPort, pki.ca, pki.serverCert, pki.serverKey))
	up.start()
	rec := subscribe(t, up.url(), "#") // on the plain listener

	cfg := testConfig(fmt.Sprintf("mqtts://127.0.0.1:%d", tlsPort))
	cfg.CAFile, cfg.CertFile, cfg.KeyFile = pki.ca, pki.clientCert, pki.clientKey
	g := startGW(t, filepath.Join(dir, "buffer.db"), cfg, nil, nil)
	if err := g.in.Publish(t.Context(), gateway.Message{Topic: "site/tls", Payload: []byte("secure")}); err != nil {
		t.Fatal(err)
	}
	got := rec.wait(t, 1, 10*time.Second)
	if got[0].topic != "edge/gw1/site/tls" || got[0].payload != "secure" {
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
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := g2.fwd.Status()
		if st.State == "down" && st.LastErr != "" {
			t.Logf("without a client certificate: %s", st.LastErr)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status: got %+v, want down", st)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition
	}
	if s, _ := g2.buf.Stats(t.Context()); s.Depth != 1 {
		t.Errorf("depth without a certificate: got %d, want 1", s.Depth)
	}
}
