package broker

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/edgegw/gateway/broker/auth"
	"github.com/edgegw/gateway/internal/mqtttest"
)

// TestMosquittoQoS2 sends QoS 2 messages with mosquitto_pub to
// mosquitto_sub: each arrives once [MQTT-4.3.3-2].
func TestMosquittoQoS2(t *testing.T) {
	b := newTestBroker(t, Config{})
	sub := startMosquittoSub(t, b, 0, "-t", "m/#", "-q", "2", "-v")
	for _, m := range []string{"a", "b", "c"} {
		if out, err := mosquittoPub(t, b, "-t", "m/q2", "-q", "2", "-m", m); err != nil {
			t.Fatalf("mosquitto_pub: %v: %s", err, out)
		}
	}
	for _, m := range []string{"a", "b", "c"} {
		sub.expectLine(t, "m/q2 "+m)
	}
	mosquittoPub(t, b, "-t", "m/end", "-m", "end")
	sub.expectLine(t, "m/end end")
}

// TestMosquittoRetained sets a retained message with -r and clears it with
// -r -n [MQTT-3.3.1-10].
func TestMosquittoRetained(t *testing.T) {
	b := newTestBroker(t, Config{})
	if out, err := mosquittoPub(t, b, "-t", "r/1", "-r", "-q", "1", "-m", "kept"); err != nil {
		t.Fatalf("mosquitto_pub: %v: %s", err, out)
	}
	sub := startMosquittoSub(t, b, 0, "-t", "r/#", "-v")
	sub.expectLine(t, "r/1 kept")
	if out, err := mosquittoPub(t, b, "-t", "r/1", "-r", "-n"); err != nil {
		t.Fatalf("mosquitto_pub -n: %v: %s", err, out)
	}
	sub.expectLine(t, "r/1 (null)") // mosquitto_sub prints an empty payload so
	waitFor(t, "retained cleared", func() bool { return b.Stats().Retained == 0 })
	// A new subscriber gets -R (no stale retained) and then the live message.
	sub2 := startMosquittoSub(t, b, 0, "-t", "r/#", "-v")
	mosquittoPub(t, b, "-t", "r/2", "-m", "live")
	sub2.expectLine(t, "r/2 live")
}

// TestMosquittoWillOnKill: a mosquitto_sub killed with SIGKILL leaves the
// broker a broken connection; its will is published [MQTT-3.1.2-8].
func TestMosquittoWillOnKill(t *testing.T) {
	b := newTestBroker(t, Config{})
	watcher := startMosquittoSub(t, b, 0, "-t", "status/#", "-v")
	victim := startMosquittoSub(t, b, 0, "-t", "x", "-i", "victim",
		"--will-topic", "status/victim", "--will-payload", "offline", "--will-qos", "1")
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	watcher.expectLine(t, "status/victim offline")
}

// TestMosquittoPersistentRestart: mosquitto_sub -c (clean session off)
// gets messages queued while it was away, across a broker restart.
func TestMosquittoPersistentRestart(t *testing.T) {
	db := filepath.Join(t.TempDir(), "broker.db")
	cfg := Config{PersistencePath: db, Listeners: []Listener{{Address: "127.0.0.1:0", Protocol: "mqtt"}}}
	b1 := newTestBroker(t, cfg)
	s := startMosquittoSub(t, b1, 0, "-c", "-i", "durable", "-t", "d/#", "-q", "1", "-v")
	s.cmd.Process.Kill()
	<-s.done
	waitFor(t, "disconnect", func() bool { return b1.Stats().ClientsConnected == 0 })
	if out, err := mosquittoPub(t, b1, "-t", "d/1", "-q", "1", "-m", "queued"); err != nil {
		t.Fatalf("mosquitto_pub: %v: %s", err, out)
	}
	if err := b1.Close(); err != nil {
		t.Fatal(err)
	}
	b2 := newTestBroker(t, cfg)
	s = startMosquittoSub(t, b2, 0, "-c", "-i", "durable", "-t", "d/#", "-q", "1", "-v")
	s.expectLine(t, "d/1 queued")
}

// TestMosquittoAuthAndACL: a wrong password is refused with CONNACK 0x04,
// anonymous clients with 0x05 when a password file is set, a denied
// subscription gets 0x80 and a denied publish is dropped.
func TestMosquittoAuthAndACL(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "passwd")
	for _, u := range [][2]string{{"alice", "apw"}, {"bob", "bpw"}} {
		if err := auth.SetPassword(pw, u[0], u[1]); err != nil {
			t.Fatal(err)
		}
	}
	acl := mqtttest.WriteFile(t, "acl", "user alice\ntopic readwrite alice/#\ntopic read shared/#\nuser bob\ntopic write shared/#\n")
	b := newTestBroker(t, Config{PasswordFile: pw, ACLFile: acl})

	out, err := mosquittoPub(t, b, "-u", "alice", "-P", "wrong", "-t", "alice/x", "-m", "x")
	if err == nil || !strings.Contains(strings.ToLower(out), "bad user name or password") {
		t.Errorf("wrong password: err=%v out=%q, want refusal 0x04", err, out)
	}
	out, err = mosquittoPub(t, b, "-t", "alice/x", "-m", "x")
	if err == nil || !strings.Contains(strings.ToLower(out), "not authori") {
		t.Errorf("anonymous: err=%v out=%q, want refusal 0x05", err, out)
	}

	sub := startMosquittoSub(t, b, 0, "-u", "alice", "-P", "apw", "-t", "alice/#", "-t", "shared/#", "-q", "1", "-v")
	// Denied publishes (bob may not write alice/#; alice may not write
	// shared/#) are dropped; allowed ones arrive.
	mosquittoPub(t, b, "-u", "bob", "-P", "bpw", "-t", "alice/in", "-q", "1", "-m", "denied")
	mosquittoPub(t, b, "-u", "alice", "-P", "apw", "-t", "shared/x", "-q", "1", "-m", "denied")
	if out, err := mosquittoPub(t, b, "-u", "bob", "-P", "bpw", "-t", "shared/x", "-q", "1", "-m", "ok"); err != nil {
		t.Fatalf("allowed publish: %v: %s", err, out)
	}
	sub.expectLine(t, "shared/x ok")
	if d := b.Stats().Denied; d != 2 {
		t.Errorf("Stats().Denied = %d, want 2", d)
	}

	// Denied subscription: SUBACK 0x80 [MQTT-3.9.3-2]; mosquitto_sub
	// reports it and exits.
	h, p := hostPort(b, 0)
	out2, _ := runTool(t, "mosquitto_sub", "-h", h, "-p", p, "-u", "bob", "-P", "bpw", "-t", "alice/#", "-d", "-W", "2")
	if !strings.Contains(out2, "granted qos") && !strings.Contains(out2, "denied") {
		t.Logf("mosquitto_sub output: %s", out2)
	}
	if !strings.Contains(out2, "128") && !strings.Contains(strings.ToLower(out2), "denied") {
		t.Errorf("denied subscription: output %q, want qos 128 / denied", out2)
	}
}

// TestMosquittoTLS connects mosquitto_sub and mosquitto_pub with --cafile
// to an mqtts listener whose certificate the test signs.
func TestMosquittoTLS(t *testing.T) {
	pki := mqtttest.NewPKI(t, "client")
	caFile := pki.CA
	b := newTestBroker(t, Config{Listeners: []Listener{{Address: "127.0.0.1:0", Protocol: "mqtts", CertFile: pki.ServerCert, KeyFile: pki.ServerKey}}})
	sub := startMosquittoSub(t, b, 0, "--cafile", caFile, "-t", "tls/#", "-v")
	_, p := hostPort(b, 0)
	out, err := runTool(t, "mosquitto_pub", "-h", "127.0.0.1", "-p", p, "--cafile", caFile, "-t", "tls/x", "-q", "1", "-m", "secure")
	if err != nil {
		t.Fatalf("mosquitto_pub over TLS: %v: %s", err, out)
	}
	sub.expectLine(t, "tls/x secure")
	// With another CA the client refuses the server.
	otherCA := mqtttest.NewPKI(t, "client").CA
	if out, err := runTool(t, "mosquitto_pub", "-h", "127.0.0.1", "-p", p, "--cafile", otherCA, "-t", "x", "-m", "x"); err == nil {
		t.Errorf("TLS with the wrong CA succeeded: %s", out)
	}
}

// TestMosquittoClientCert: with ca_file set, the mqtts listener requires a
// client certificate signed by that CA.
func TestMosquittoClientCert(t *testing.T) {
	pki := mqtttest.NewPKI(t, "client")
	caFile := pki.CA
	b := newTestBroker(t, Config{Listeners: []Listener{{Address: "127.0.0.1:0", Protocol: "mqtts",
		CertFile: pki.ServerCert, KeyFile: pki.ServerKey, CAFile: caFile}}})
	_, p := hostPort(b, 0)
	if out, err := runTool(t, "mosquitto_pub", "-h", "127.0.0.1", "-p", p, "--cafile", caFile, "-t", "x", "-m", "x"); err == nil {
		t.Errorf("TLS without a client certificate succeeded: %s", out)
	}
	sub := startMosquittoSub(t, b, 0, "--cafile", caFile, "--cert", pki.ClientCert,
		"--key", pki.ClientKey, "-t", "c/#", "-v")
	out, err := runTool(t, "mosquitto_pub", "-h", "127.0.0.1", "-p", p, "--cafile", caFile,
		"--cert", pki.ClientCert, "--key", pki.ClientKey, "-t", "c/1", "-m", "mtls")
	if err != nil {
		t.Fatalf("mosquitto_pub with a client certificate: %v: %s", err, out)
	}
	sub.expectLine(t, "c/1 mtls")
}
