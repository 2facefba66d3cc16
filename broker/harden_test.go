package broker

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/gateway"
	"github.com/edgegw/gateway/broker/auth"
	"github.com/edgegw/gateway/broker/packet"
	"github.com/edgegw/gateway/internal/mqtttest"
)

// authBroker starts a broker with users alice and bob (passwords apw and
// bpw) and the given ACL text, persisting to a temporary database.
func authBroker(t *testing.T, acl string) *Broker {
	t.Helper()
	pw := filepath.Join(t.TempDir(), "passwd")
	for _, u := range [][2]string{{"alice", "apw"}, {"bob", "bpw"}} {
		if err := auth.SetPassword(pw, u[0], u[1]); err != nil {
			t.Fatal(err)
		}
	}
	return newTestBroker(t, Config{PasswordFile: pw, ACLFile: mqtttest.WriteFile(t, "acl", acl),
		PersistencePath: filepath.Join(t.TempDir(), "broker.db")})
}

// TestSessionTakeoverOtherUser: bob connecting with alice's client id
// (clean session off) gets a fresh session, not her subscriptions and
// queued messages, which his own SUBSCRIBE would be refused.
func TestSessionTakeoverOtherUser(t *testing.T) {
	b := authBroker(t, "user alice\ntopic readwrite alice/#\nuser bob\ntopic readwrite bob/#\n")
	alice := startMosquittoSub(t, b, 0, "-u", "alice", "-P", "apw", "-c", "-i", "shared", "-t", "alice/#", "-q", "1", "-v")
	alice.cmd.Process.Kill()
	<-alice.done
	waitFor(t, "alice offline", func() bool { return b.Stats().ClientsConnected == 0 })
	if out, err := mosquittoPub(t, b, "-u", "alice", "-P", "apw", "-t", "alice/queued", "-q", "1", "-m", "private"); err != nil {
		t.Fatalf("mosquitto_pub: %v: %s", err, out)
	}

	bob := startMosquittoSub(t, b, 0, "-u", "bob", "-P", "bpw", "-c", "-i", "shared", "-t", "bob/#", "-q", "1", "-v")
	mosquittoPub(t, b, "-u", "alice", "-P", "apw", "-t", "alice/live", "-q", "1", "-m", "private")
	mosquittoPub(t, b, "-u", "bob", "-P", "bpw", "-t", "bob/end", "-q", "1", "-m", "end")
	bob.expectLine(t, "bob/end end") // nothing of alice's before it

	// Alice comes back: her session is gone (bob's replaced it), not his.
	alice = startMosquittoSub(t, b, 0, "-u", "alice", "-P", "apw", "-c", "-i", "shared", "-t", "alice/#", "-q", "1", "-v")
	mosquittoPub(t, b, "-u", "bob", "-P", "bpw", "-t", "bob/x", "-q", "1", "-m", "bob's")
	mosquittoPub(t, b, "-u", "alice", "-P", "apw", "-t", "alice/end", "-q", "1", "-m", "end")
	alice.expectLine(t, "alice/end end")
}

// TestACLDenyOnDelivery: a "topic deny" inside a granted wildcard
// subscription holds those messages back at delivery (Mosquitto re-checks
// read access for each message).
func TestACLDenyOnDelivery(t *testing.T) {
	b := authBroker(t, "user alice\ntopic readwrite alice/#\ntopic deny alice/secret/#\nuser bob\ntopic write alice/#\n")
	sub := startMosquittoSub(t, b, 0, "-u", "alice", "-P", "apw", "-t", "alice/#", "-q", "1", "-v")
	for _, tp := range []string{"alice/secret/a", "alice/open"} {
		if out, err := mosquittoPub(t, b, "-u", "bob", "-P", "bpw", "-t", tp, "-q", "1", "-m", "m"); err != nil {
			t.Fatalf("mosquitto_pub: %v: %s", err, out)
		}
	}
	sub.expectLine(t, "alice/open m")
	// A subscription the deny covers entirely is refused: SUBACK 0x80.
	h, p := hostPort(b, 0)
	out, _ := runTool(t, "mosquitto_sub", "-h", h, "-p", p, "-u", "alice", "-P", "apw", "-t", "alice/secret/#", "-d", "-W", "2")
	if !strings.Contains(out, "128") && !strings.Contains(strings.ToLower(out), "denied") {
		t.Errorf("denied subscription: output %q, want qos 128 / denied", out)
	}
}

// TestUserNameWithoutPasswordFile: a listener off loopback, with no
// password_file and allow_anonymous off, refuses a CONNECT carrying a user
// name and no password (before, any name was taken on trust).
func TestUserNameWithoutPasswordFile(t *testing.T) {
	b := newTestBroker(t, Config{Listeners: []Listener{{Address: "0.0.0.0:0", Protocol: "mqtt"}}})
	_, p := hostPort(b, 0)
	for _, args := range [][]string{{"-u", "mallory"}, {"-u", "admin", "-P", "guess"}, {}} {
		out, err := runTool(t, "mosquitto_pub", append([]string{"-h", "127.0.0.1", "-p", p, "-t", "x", "-m", "y"}, args...)...)
		if err == nil || !strings.Contains(strings.ToLower(out), "not authori") {
			t.Errorf("mosquitto_pub %v: err=%v out=%q, want refusal 0x05", args, err, out)
		}
	}
}

// TestStoreFailureNotAcked: while the broker's database cannot be written
// (another connection holds its write lock past the busy timeout), a QoS 1
// PUBLISH for an offline persistent session is not acknowledged: the
// connection closes without PUBACK, so the client sends it again. Once the
// database is writable again, publishes are acknowledged.
func TestStoreFailureNotAcked(t *testing.T) {
	db := filepath.Join(t.TempDir(), "broker.db")
	b := newTestBroker(t, Config{PersistencePath: db})
	sub := tcpClient(t, b)
	sub.connect(&packet.Connect{ClientID: "durable", KeepAlive: 0}, false)
	sub.subscribe(1, "q/#", 1)
	sub.send(&packet.Disconnect{})
	sub.expectClosed()
	waitFor(t, "subscriber offline", func() bool { return b.Stats().ClientsConnected == 0 })
	if err := b.store.Flush(0); err != nil { // the subscription is on disk
		t.Fatal(err)
	}

	locker, err := sql.Open("sqlite3", "file:"+db)
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close()
	lc, err := locker.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer lc.Close()
	if _, err := lc.ExecContext(t.Context(), "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	pub := tcpClient(t, b)
	pub.connect(&packet.Connect{ClientID: "pub", CleanSession: true}, false)
	pub.send(&packet.Publish{Topic: "q/1", QoS: 1, PacketID: 1, Payload: []byte("lost?")})
	pub.nc.SetReadDeadline(time.Now().Add(60 * time.Second)) // past the store's 5 s busy timeout
	for {
		p, err := packet.Read(pub.br, 0)
		if err != nil {
			break // closed without an acknowledgement
		}
		if p.Type() == packet.PUBACK {
			t.Fatal("PUBACK for a message the store could not commit")
		}
	}
	if b.Stats().NotStored == 0 {
		t.Error("Stats().NotStored = 0")
	}

	if _, err := lc.ExecContext(t.Context(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	pub = tcpClient(t, b)
	pub.connect(&packet.Connect{ClientID: "pub", CleanSession: true}, false)
	pub.send(&packet.Publish{Topic: "q/2", QoS: 1, PacketID: 2, Payload: []byte("stored")})
	pub.expect(&packet.Puback{PacketID: 2})
}

// TestDeepTopics: filters and topic names of more than 200 levels are
// refused (SUBACK 0x80; PUBLISH closes the connection), as in Mosquitto.
func TestDeepTopics(t *testing.T) {
	b := newTestBroker(t, Config{})
	c := tcpClient(t, b)
	c.connect(&packet.Connect{ClientID: "deep", CleanSession: true}, false)
	ok := strings.Repeat("a/", 199) + "#"   // 200 levels
	deep := strings.Repeat("a/", 200) + "#" // 201 levels
	c.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: ok}, {Filter: deep}}})
	c.expect(&packet.Suback{PacketID: 1, ReturnCodes: []byte{0, packet.SubackFailure}})
	if n := b.Stats().Subscriptions; n != 1 {
		t.Errorf("Subscriptions = %d, want 1", n)
	}
	c.send(&packet.Publish{Topic: strings.Repeat("a/", 200) + "b"})
	c.expectClosed()
}

// TestMaxSubscriptions: a client past max_subscriptions gets 0x80 for new
// filters; re-subscribing a filter it has is still granted.
func TestMaxSubscriptions(t *testing.T) {
	b := newTestBroker(t, Config{MaxSubscriptions: 2})
	c := tcpClient(t, b)
	c.connect(&packet.Connect{ClientID: "many", CleanSession: true}, false)
	c.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "a"}, {Filter: "b", QoS: 1}, {Filter: "c"}}})
	c.expect(&packet.Suback{PacketID: 1, ReturnCodes: []byte{0, 1, packet.SubackFailure}})
	c.send(&packet.Subscribe{PacketID: 2, Subscriptions: []packet.Subscription{{Filter: "a", QoS: 1}, {Filter: "d"}}})
	c.expect(&packet.Suback{PacketID: 2, ReturnCodes: []byte{1, packet.SubackFailure}})
}

// TestRetainedInBackground: the retained messages of a wildcard SUBSCRIBE
// are sent without holding up the connection: while they cannot be read
// (the retained store is locked), the SUBACK and a PINGRESP still arrive;
// the retained message follows once it can.
func TestRetainedInBackground(t *testing.T) {
	b := newTestBroker(t, Config{})
	if err := b.Publish(t.Context(), gateway.Message{Topic: "r/1", Payload: []byte("kept"), Retain: true}); err != nil {
		t.Fatal(err)
	}
	c := tcpClient(t, b)
	c.connect(&packet.Connect{ClientID: "wide", CleanSession: true}, false)
	b.retMu.Lock()
	locked := true
	defer func() {
		if locked {
			b.retMu.Unlock()
		}
	}()
	c.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "#"}}})
	c.send(&packet.Pingreq{})
	c.expect(&packet.Suback{PacketID: 1, ReturnCodes: []byte{0}})
	c.expect(&packet.Pingresp{})
	b.retMu.Unlock()
	locked = false
	c.expect(&packet.Publish{Topic: "r/1", Payload: []byte("kept"), Retain: true})
}

// busyAuth refuses every login as auth.PasswordFile does when its queue
// of password checks is full.
type busyAuth struct{}

func (busyAuth) Authenticate(string, []byte) error { return fmt.Errorf("user: %w", auth.ErrBusy) }

// TestAuthBusyServerUnavailable: when password checks are backed up, a
// CONNECT gets 0x03 (server unavailable: retry), not 0x04 (bad password).
func TestAuthBusyServerUnavailable(t *testing.T) {
	b, err := New(Config{Listeners: []Listener{{Address: "127.0.0.1:0", Protocol: "mqtt"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b.SetAuthenticator(busyAuth{})
	if err := b.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	out, err := mosquittoPub(t, b, "-u", "alice", "-P", "apw", "-t", "x", "-m", "y")
	if err == nil || !strings.Contains(strings.ToLower(out), "unavailable") {
		t.Errorf("mosquitto_pub while checks are busy: err=%v out=%q, want 0x03 server unavailable", err, out)
	}
}

// TestDeepSubscribeMemory: one SUBSCRIBE of about 920 KB holding 14
// filters of 32,768 levels each is refused without building their trees
// (such a packet took 254 MB of heap before the level limit).
func TestDeepSubscribeMemory(t *testing.T) {
	b := newTestBroker(t, Config{})
	c := tcpClient(t, b)
	c.connect(&packet.Connect{ClientID: "deep", CleanSession: true}, false)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var subs []packet.Subscription
	codes := make([]byte, 14)
	for i := range codes {
		// 65,535 bytes, the longest MQTT string: 32,768 levels.
		subs = append(subs, packet.Subscription{Filter: strings.Repeat(string(rune('a'+i))+"/", 32767) + "#"})
		codes[i] = packet.SubackFailure
	}
	c.send(&packet.Subscribe{PacketID: 1, Subscriptions: subs})
	c.expect(&packet.Suback{PacketID: 1, ReturnCodes: codes})
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 32<<20 {
		t.Errorf("heap grew by %d MB for one refused SUBSCRIBE", grew>>20)
	}
}

// TestSessionUserSurvivesRestart: the user a persistent session belongs
// to is stored with it: after a restart the owner resumes it with its
// queued message, and another user with its client id gets a fresh one.
func TestSessionUserSurvivesRestart(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "passwd")
	for _, u := range [][2]string{{"alice", "apw"}, {"bob", "bpw"}} {
		if err := auth.SetPassword(pw, u[0], u[1]); err != nil {
			t.Fatal(err)
		}
	}
	cfg := Config{PasswordFile: pw, PersistencePath: filepath.Join(t.TempDir(), "broker.db"),
		Listeners: []Listener{{Address: "127.0.0.1:0", Protocol: "mqtt"}}}
	login := func(c *rawClient, user, password string, present bool) {
		c.connect(&packet.Connect{ClientID: "shared", UsernameFlag: true, Username: user, PasswordFlag: true, Password: []byte(password)}, present)
	}
	b1 := newTestBroker(t, cfg)
	a := tcpClient(t, b1)
	login(a, "alice", "apw", false)
	a.subscribe(1, "q/#", 1)
	a.send(&packet.Disconnect{})
	a.expectClosed()
	waitFor(t, "alice offline", func() bool { return b1.Stats().ClientsConnected == 0 })
	if err := b1.Publish(t.Context(), gateway.Message{Topic: "q/1", Payload: []byte("for alice"), QoS: 1}); err != nil {
		t.Fatal(err)
	}
	if err := b1.Close(); err != nil {
		t.Fatal(err)
	}

	b2 := newTestBroker(t, cfg)
	a = tcpClient(t, b2)
	login(a, "alice", "apw", true) // the owner resumes her session ...
	got := a.recv().(*packet.Publish)
	if got.Topic != "q/1" || string(got.Payload) != "for alice" {
		t.Fatalf("alice got %+v, want q/1 for alice", got)
	}
	a.send(&packet.Puback{PacketID: got.PacketID})
	a.send(&packet.Disconnect{})
	a.expectClosed()
	waitFor(t, "alice offline", func() bool { return b2.Stats().ClientsConnected == 0 })
	bob := tcpClient(t, b2)
	login(bob, "bob", "bpw", false) // ... another user gets a fresh one
	if err := b2.Publish(t.Context(), gateway.Message{Topic: "q/2", Payload: []byte("for alice"), QoS: 1}); err != nil {
		t.Fatal(err)
	}
	bob.send(&packet.Pingreq{})
	bob.expect(&packet.Pingresp{}) // and nothing of alice's subscription
}
