package mqtttest_test

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgegw/gateway/internal/mqtttest"
)

// publish sends one message to url with a paho client of its own.
func publish(t *testing.T, url, topic, payload string, retain bool) {
	t.Helper()
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID("pub").SetAutoReconnect(false))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publisher connect: %v", tok.Error())
	}
	defer c.Disconnect(0)
	if tok := c.Publish(topic, 1, retain, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
}

// TestMosquittoRestart: a stopped broker refuses connections; started again
// it listens on the same port, and the recorder sees topic, payload, QoS
// and the retain flag.
func TestMosquittoRestart(t *testing.T) {
	m := mqtttest.StartMosquitto(t)
	if want := "mqtt://127.0.0.1:" + strconv.Itoa(m.Port()); m.URL() != want {
		t.Errorf("URL() = %q, want %q", m.URL(), want)
	}
	rec := mqtttest.Subscribe(t, m.URL(), "a/#")
	publish(t, m.URL(), "a/1", "one", false)
	got := rec.Wait(t, 1, 10*time.Second)
	if want := (mqtttest.Message{Topic: "a/1", Payload: "one", QoS: 1}); got[0] != want {
		t.Errorf("got %+v, want %+v", got[0], want)
	}

	m.Stop()
	m.Stop() // a second Stop does nothing
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(m.Port()))
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("%s accepts connections after Stop", addr)
	}

	m.Start()
	publish(t, m.URL(), "a/2", "kept", true)
	rec = mqtttest.Subscribe(t, m.URL(), "a/#")
	got = rec.Wait(t, 1, 10*time.Second)
	if want := (mqtttest.Message{Topic: "a/2", Payload: "kept", QoS: 1, Retain: true}); got[0] != want {
		t.Errorf("after the restart got %+v, want %+v", got[0], want)
	}
	if s := fmt.Sprint(rec.Snapshot()); s != "[a/2 kept]" {
		t.Errorf("Snapshot() prints %s, want [a/2 kept]", s)
	}
}

// TestMosquittoMutualTLS: a second listener that requires a client
// certificate from the PKI's CA, and a recorder that presents one.
func TestMosquittoMutualTLS(t *testing.T) {
	pki := mqtttest.NewPKI(t, "gw1")
	tlsPort := mqtttest.FreePort(t)
	m := mqtttest.StartMosquitto(t, mqtttest.WithListener(tlsPort,
		"cafile "+pki.CA, "certfile "+pki.ServerCert, "keyfile "+pki.ServerKey, "require_certificate true"))
	tlsURL := fmt.Sprintf("mqtts://127.0.0.1:%d", tlsPort)
	rec := mqtttest.Subscribe(t, tlsURL, "#", mqtttest.WithTLS(pki.ClientTLS(t)))
	publish(t, m.URL(), "tls/x", "secure", false)
	if got := rec.Wait(t, 1, 10*time.Second); got[0].String() != "tls/x secure" {
		t.Errorf("over TLS got %v, want tls/x secure", got[0])
	}

	b, err := os.ReadFile(pki.ClientCert)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: no PEM block", pki.ClientCert)
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if cert.Subject.CommonName != "gw1" {
		t.Errorf("client certificate CN %q, want gw1", cert.Subject.CommonName)
	}
	// Another PKI's CA does not trust this server.
	other := mqtttest.NewPKI(t, "x")
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(tlsURL).SetTLSConfig(other.ClientTLS(t)).SetAutoReconnect(false))
	if tok := c.Connect(); tok.WaitTimeout(10*time.Second) && tok.Error() == nil {
		c.Disconnect(0)
		t.Error("a client trusting another CA connected")
	}
}

// TestMosquittoLogin: WithConfig overrides the anonymous default, and a
// recorder logs in with WithLogin.
func TestMosquittoLogin(t *testing.T) {
	pwfile := mqtttest.WriteFile(t, "passwd", "")
	if out, err := exec.Command(mqtttest.NeedTool(t, "mosquitto_passwd"), "-b", pwfile, "rec", "secret").CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_passwd: %v: %s", err, out)
	}
	m := mqtttest.StartMosquitto(t, mqtttest.WithConfig("password_file "+pwfile, "allow_anonymous false"))
	rec := mqtttest.Subscribe(t, m.URL(), "#", mqtttest.WithLogin("rec", "secret"))
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(m.URL()).SetClientID("anon").SetAutoReconnect(false))
	if tok := c.Connect(); tok.WaitTimeout(10*time.Second) && tok.Error() == nil {
		c.Disconnect(0)
		t.Error("an anonymous client connected")
	}
	if len(rec.Snapshot()) != 0 {
		t.Errorf("recorded %v, want nothing", rec.Snapshot())
	}
}
