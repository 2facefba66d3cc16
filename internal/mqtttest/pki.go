package mqtttest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// PKI is a test certificate authority and two certificates it signed, as
// PEM files (EC P-256 keys) in a temporary directory.
type PKI struct {
	CA         string // the CA certificate: a trust anchor (cafile, --cafile)
	ServerCert string // a server certificate for 127.0.0.1 and localhost
	ServerKey  string
	ClientCert string // a client certificate (TLS client auth) with the CN given to NewPKI
	ClientKey  string

	dir    string
	caCert *x509.Certificate
	caKey  *ecdsa.PrivateKey
	serial *int64 // the last serial number used
}

// NewPKI creates a CA, a server certificate for 127.0.0.1 and localhost,
// and a client certificate whose subject common name is clientCN, valid
// from an hour ago for a day, and writes them to ca.pem, server.pem,
// server.key, client.pem and client.key in a new directory under
// t.TempDir(). Each call makes a new CA, which trusts none of the others.
func NewPKI(t testing.TB, clientCN string) PKI {
	t.Helper()
	dir := t.TempDir()
	p := PKI{
		CA:         filepath.Join(dir, "ca.pem"),
		ServerCert: filepath.Join(dir, "server.pem"),
		ServerKey:  filepath.Join(dir, "server.key"),
		ClientCert: filepath.Join(dir, "client.pem"),
		ClientKey:  filepath.Join(dir, "client.key"),
		dir:        dir,
		serial:     new(int64),
	}
	now := time.Now()
	caKey := newKey(t)
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
		t.Fatalf("create the test CA: %v", err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatalf("parse the test CA: %v", err)
	}
	writePEM(t, p.CA, "CERTIFICATE", caDER)
	p.caCert, p.caKey, *p.serial = caCert, caKey, 1
	p.leaf(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "localhost"},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, p.ServerCert, p.ServerKey)
	p.leaf(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: clientCN},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, p.ClientCert, p.ClientKey)
	return p
}

// ClientCertFor issues another client certificate with the given subject
// (which may lack a common name), valid as NewPKI's, and returns the paths
// of its certificate and key, named after name.
func (p PKI) ClientCertFor(t testing.TB, name string, subject pkix.Name) (cert, key string) {
	t.Helper()
	cert, key = filepath.Join(p.dir, name+".pem"), filepath.Join(p.dir, name+".key")
	p.leaf(t, &x509.Certificate{Subject: subject, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, cert, key)
	return cert, key
}

// leaf signs tmpl with the CA and writes the certificate and its new key.
func (p PKI) leaf(t testing.TB, tmpl *x509.Certificate, certPath, keyPath string) {
	t.Helper()
	*p.serial++
	now := time.Now()
	tmpl.SerialNumber = big.NewInt(*p.serial)
	tmpl.NotBefore, tmpl.NotAfter = now.Add(-time.Hour), now.Add(24*time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	key := newKey(t)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatalf("create %s: %v", certPath, err)
	}
	writePEM(t, certPath, "CERTIFICATE", der)
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatalf("marshal %s: %v", keyPath, err)
	}
	writePEM(t, keyPath, "EC PRIVATE KEY", kder)
}

// ClientTLS returns a client TLS configuration (TLS 1.2 or later) that
// trusts only the CA and presents the client certificate when asked.
func (p PKI) ClientTLS(t testing.TB) *tls.Config {
	t.Helper()
	ca, err := os.ReadFile(p.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		t.Fatalf("%s: no certificate", p.CA)
	}
	cert, err := tls.LoadX509KeyPair(p.ClientCert, p.ClientKey)
	if err != nil {
		t.Fatalf("load the client certificate: %v", err)
	}
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generate a key: %v", err)
	}
	return k
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
