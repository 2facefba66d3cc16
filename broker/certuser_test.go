package broker

import (
	"crypto/x509/pkix"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgegw/gateway"
	"github.com/edgegw/gateway/broker/auth"
	"github.com/edgegw/gateway/config"
	"github.com/edgegw/gateway/internal/mqtttest"
)

// TestMosquittoCertUser: on an mqtts listener with ca_file and
// use_identity_as_username (use_subject_as_username), mosquitto_pub and
// mosquitto_sub with a client certificate are the user its Common Name
// (its subject) names: the ACL's rules for that user apply, and the user
// name and password they send are ignored (the password file does not know
// them). A client without a certificate, or with one from another CA, is
// refused at the TLS handshake.
func TestMosquittoCertUser(t *testing.T) {
	for _, tc := range []struct {
		name string
		l    Listener
		user string
	}{
		{"identity", Listener{UseIdentityAsUsername: true}, "dev1"},
		{"subject", Listener{UseSubjectAsUsername: true}, "CN=dev1,O=Plant"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pki := mqtttest.NewPKI(t, "dev1")
			pw := filepath.Join(t.TempDir(), "passwd")
			if err := auth.SetPassword(pw, "admin", "apw"); err != nil {
				t.Fatal(err)
			}
			acl := mqtttest.WriteFile(t, "acl", "user "+tc.user+"\ntopic readwrite dev1/#\ntopic read fleet/#\n")
			l := tc.l
			l.Address, l.Protocol, l.CertFile, l.KeyFile, l.CAFile = "127.0.0.1:0", "mqtts", pki.ServerCert, pki.ServerKey, pki.CA
			b := newTestBroker(t, Config{PasswordFile: pw, ACLFile: acl, Listeners: []Listener{l}})
			seen := make(chan string, 10)
			unsub, err := b.Subscribe("#", 0, func(m gateway.Message) { seen <- m.Topic })
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(unsub)

			cert, key := pki.ClientCertFor(t, "dev1", pkix.Name{CommonName: "dev1", Organization: []string{"Plant"}})
			withCert := []string{"--cafile", pki.CA, "--cert", cert, "--key", key}
			// The user name and password sent are not checked: the
			// certificate's name is the user.
			sub := startMosquittoSub(t, b, 0, append(withCert, "-u", "admin", "-P", "wrong", "-t", "fleet/#", "-q", "1", "-v")...)
			for _, topic := range []string{"other/x", "dev1/x"} { // other/x: the ACL denies dev1 writing it
				if out, err := mosquittoPub(t, b, append(withCert, "-t", topic, "-q", "1", "-m", "m")...); err != nil {
					t.Fatalf("mosquitto_pub %s with a certificate: %v: %s", topic, err, out)
				}
			}
			select {
			case topic := <-seen:
				if topic != "dev1/x" {
					t.Errorf("routed %q, want dev1/x only (other/x denied)", topic)
				}
			case <-time.After(testTimeout):
				t.Fatal("dev1/x not routed")
			}
			if d := b.Stats().Denied; d != 1 {
				t.Errorf("Stats().Denied = %d, want 1 (other/x)", d)
			}
			if err := b.Publish(t.Context(), gateway.Message{Topic: "fleet/all", Payload: []byte("go"), QoS: 1}); err != nil {
				t.Fatal(err)
			}
			sub.expectLine(t, "fleet/all go")
			// A subscription the user may not read is refused: the ACL
			// applies to the certificate's name, not to "admin".
			_, p := hostPort(b, 0)
			out, _ := runTool(t, "mosquitto_sub", append(withCert, "-h", "127.0.0.1", "-p", p, "-u", "admin", "-P", "apw", "-t", "other/#", "-d", "-W", "2")...)
			if !strings.Contains(out, "128") && !strings.Contains(strings.ToLower(out), "denied") {
				t.Errorf("subscription to other/#: output %q, want qos 128 / denied", out)
			}

			if out, err := mosquittoPub(t, b, "--cafile", pki.CA, "-u", "admin", "-P", "apw", "-t", "dev1/y", "-m", "m"); err == nil {
				t.Errorf("no client certificate (password of admin) accepted: %s", out)
			}
			other := mqtttest.NewPKI(t, "dev1") // same CN, another CA
			if out, err := mosquittoPub(t, b, "--cafile", pki.CA, "--cert", other.ClientCert, "--key", other.ClientKey, "-t", "dev1/y", "-m", "m"); err == nil {
				t.Errorf("client certificate of another CA accepted: %s", out)
			}
			if tc.l.UseIdentityAsUsername {
				// No Common Name, no user: refused with 0x04 (MQTT 3.1.1 section 3.2.2.3).
				cert, key := pki.ClientCertFor(t, "nocn", pkix.Name{Organization: []string{"Plant"}})
				out, err := mosquittoPub(t, b, "--cafile", pki.CA, "--cert", cert, "--key", key, "-t", "dev1/y", "-m", "m")
				if err == nil || !strings.Contains(strings.ToLower(out), "bad user name or password") {
					t.Errorf("certificate without a CN: err=%v out=%q, want refusal 0x04", err, out)
				}
			}
		})
	}
}

// TestPahoWSSCertUser: use_identity_as_username on a wss listener, with
// paho: the Common Name is the user over WebSocket too.
func TestPahoWSSCertUser(t *testing.T) {
	pki := mqtttest.NewPKI(t, "dev1")
	acl := mqtttest.WriteFile(t, "acl", "user dev1\ntopic readwrite dev1/#\n")
	b := newTestBroker(t, Config{ACLFile: acl, Listeners: []Listener{{Address: "127.0.0.1:0", Protocol: "wss",
		CertFile: pki.ServerCert, KeyFile: pki.ServerKey, CAFile: pki.CA, UseIdentityAsUsername: true}}})
	c := pahoConnect(t, "wss://"+b.Addrs()[0].String()+"/mqtt", func(o *mqtt.ClientOptions) { o.SetTLSConfig(pki.ClientTLS(t)) })
	got := make(chan string, 2)
	wait(t, c.Subscribe("dev1/#", 1, func(_ mqtt.Client, m mqtt.Message) { got <- m.Topic() }))
	wait(t, c.Publish("other/x", 1, false, "denied"))
	wait(t, c.Publish("dev1/x", 1, false, "ok"))
	if topic := <-got; topic != "dev1/x" {
		t.Errorf("got %q, want dev1/x", topic)
	}
	if d := b.Stats().Denied; d != 1 {
		t.Errorf("Stats().Denied = %d, want 1 (other/x)", d)
	}
}

// TestCertUserConfig: the certificate options need ca_file, and only one.
func TestCertUserConfig(t *testing.T) {
	for _, tc := range []struct {
		l    Listener
		want string
	}{
		{Listener{Protocol: "mqtts", UseIdentityAsUsername: true}, "use_identity_as_username: needs ca_file"},
		{Listener{Protocol: "mqtt", UseSubjectAsUsername: true}, "use_subject_as_username: needs ca_file"},
		{Listener{Protocol: "mqtts", CAFile: "ca.pem", UseIdentityAsUsername: true, UseSubjectAsUsername: true}, "set one of them"},
	} {
		tc.l.Address, tc.l.CertFile, tc.l.KeyFile = "127.0.0.1:0", "s.pem", "s.key"
		_, err := New(Config{Listeners: []Listener{tc.l}}, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: New() = %v, want %q", tc.l, err, tc.want)
		}
	}
}

// TestFromSectionCertUser: the [[broker.listeners]] keys reach the broker.
func TestFromSectionCertUser(t *testing.T) {
	s := DefaultSection()
	s.Listeners = []config.Listener{{Address: "127.0.0.1:8883", Protocol: "mqtts", UseIdentityAsUsername: true},
		{Address: "127.0.0.1:8884", Protocol: "wss", UseSubjectAsUsername: true}}
	ls := FromSection(s, t.TempDir()).Listeners
	if !ls[0].UseIdentityAsUsername || ls[0].UseSubjectAsUsername || ls[1].UseIdentityAsUsername || !ls[1].UseSubjectAsUsername {
		t.Errorf("FromSection listeners = %+v", ls)
	}
}
