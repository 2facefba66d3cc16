package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/gateway/internal/mqtttest"
	"github.com/edgegw/gateway/internal/testutil"
)

// meterConfig is a gateway config with an uplink to upstream speaking
// protocol_version version, the status page at web ("" none) and a
// simulated meter publishing gw/meter/a every interval; rule is added to the
// forward rule of gw/# (remote sites/gw/...).
func meterConfig(dir, upstream string, version, localPort int, web, interval, rule string) string {
	return uplinkConfig(dir, web, upstream, "gw-v5", version) + rule + `
[[broker.listeners]]
address = "127.0.0.1:` + strconv.Itoa(localPort) + `"

[[devices]]
name = "meter"
driver = "sim"
interval = "` + interval + `"
payload = "value"

  [[devices.points]]
  name = "a"
  wave = "counter"
`
}

// startGatewayBinary runs the real binary on the config at path until the
// test ends; its log is shown when the test fails.
func startGatewayBinary(t *testing.T, path string) {
	t.Helper()
	cmd := exec.Command(gatewayBinary(t), "run", "-c", path)
	stderr := &testutil.SyncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // it runs until the test ends
		_ = cmd.Wait()         // killed: the exit status says so
		if t.Failed() {
			t.Logf("gateway log:\n%s", stderr)
		}
	})
}

// TestUpstreamV5Properties: with protocol_version = 5 a forwarded reading
// reaches a real MQTT 5.0 consumer (mosquitto_sub -V mqttv5 on mosquitto)
// with the rule's user properties in name order, the reading's time as "ts"
// (RFC 3339, UTC, milliseconds) and a Message Expiry Interval; and a
// subscribe filter overlapping the forwarded topics (refused with 3.1.1)
// brings the cloud's messages home but never the gateway's own (No Local
// [MQTT-3.8.3-3]).
func TestUpstreamV5Properties(t *testing.T) {
	up := mqtttest.StartMosquitto(t)
	cloud := startSubV5(t, up.Port(), "sites/#")
	dir := t.TempDir()
	port := mqtttest.FreePort(t)
	path := filepath.Join(dir, "config.toml")
	cfg := meterConfig(dir, up.URL(), 5, port, "", "50ms", `  message_expiry = "1h"
  user_properties = { site = "plant-1", line = "3" }

  [[upstream.subscribe]]
  filter = "sites/#"
  local_prefix = "cloud"
`)
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(-time.Millisecond) // ts has milliseconds
	startGatewayBinary(t, path)
	testutil.WaitFor(t, 30*time.Second, "the gateway's broker to listen", func() bool {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	local := mqtttest.Subscribe(t, "mqtt://127.0.0.1:"+strconv.Itoa(port), "cloud/#")

	i := cloud.wait(t, "a reading", 0, func(m subMessage) bool { return m.Topic == "sites/gw/meter/a" })
	m := cloud.snapshot()[i]
	if len(m.UserProps) != 3 || m.UserProps[0] != "line:3" || m.UserProps[1] != "site:plant-1" || !strings.HasPrefix(m.UserProps[2], "ts:") {
		t.Fatalf("user properties %q, want line:3, site:plant-1, ts:...", m.UserProps)
	}
	ts, err := time.Parse("2006-01-02T15:04:05.000Z", strings.TrimPrefix(m.UserProps[2], "ts:"))
	if err != nil || ts.Before(start) || ts.After(time.Now()) {
		t.Errorf("ts %q (%v): want the reading's time in UTC with milliseconds, after %v", m.UserProps[2], err, start.UTC())
	}
	if e, err := strconv.Atoi(m.Expiry); err != nil || e < 3500 || e > 3600 {
		t.Errorf("message expiry %q, want about 3600 s", m.Expiry)
	}

	// The cloud publishes on a forwarded topic's neighbour: it comes home.
	// The gateway's own readings, published upstream before and after it,
	// never do.
	n := len(cloud.snapshot())
	pub := exec.Command(mqtttest.NeedTool(t, "mosquitto_pub"), "-V", "mqttv5", "-h", "127.0.0.1", "-p", strconv.Itoa(up.Port()),
		"-q", "1", "-t", "sites/other/cmd", "-m", "hello")
	if out, err := pub.CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_pub: %v\n%s", err, out)
	}
	testutil.WaitFor(t, 20*time.Second, "the cloud's message home", func() bool {
		return slices.ContainsFunc(local.Snapshot(), func(m mqtttest.Message) bool { return m.String() == "cloud/other/cmd hello" })
	})
	cloud.wait(t, "10 more readings", n+10, func(m subMessage) bool { return m.Topic == "sites/gw/meter/a" })
	for _, m := range local.Snapshot() {
		if strings.HasPrefix(m.Topic, "cloud/gw/") {
			t.Fatalf("the gateway's own message came back: %v", m)
		}
	}
}

// TestUpstreamV5ExpiredNotSent: readings buffered during an outage that
// are older than message_expiry when the uplink comes back are not sent;
// the fresh ones are.
func TestUpstreamV5ExpiredNotSent(t *testing.T) {
	up := mqtttest.NewMosquitto(t) // not started: the uplink is down
	dir := t.TempDir()
	db := filepath.Join(dir, "data", "buffer.db")
	path := filepath.Join(dir, "config.toml")
	const expiry = 2 * time.Second
	cfg := meterConfig(dir, up.URL(), 5, mqtttest.FreePort(t), "", "20ms", fmt.Sprintf("  message_expiry = %q\n", expiry))
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	startGatewayBinary(t, path)
	testutil.WaitFor(t, 20*time.Second, "a backlog of 50 readings", func() bool {
		s, err := readStats(db)
		return err == nil && s.Depth >= 50
	})
	stale := time.Now()                         // the readings queued so far expire within expiry
	<-time.After(expiry + 100*time.Millisecond) // not polling: the time the test is about
	up.Start()
	cloud := startSubV5(t, up.Port(), "sites/#")
	cloud.wait(t, "a fresh reading", 0, func(m subMessage) bool { return m.Topic == "sites/gw/meter/a" })
	for _, m := range cloud.snapshot() {
		if m.Topic != "sites/gw/meter/a" {
			continue // the gateway's status
		}
		i := slices.IndexFunc(m.UserProps, func(p string) bool { return strings.HasPrefix(p, "ts:") })
		if i < 0 {
			t.Fatalf("no ts: %+v", m)
		}
		ts, err := time.Parse(time.RFC3339Nano, strings.TrimPrefix(m.UserProps[i], "ts:"))
		if err != nil {
			t.Fatal(err)
		}
		if !ts.After(stale) {
			t.Errorf("a reading of %v, expired before the uplink came back at %v, was sent: %+v", ts, stale.Add(expiry), m)
		}
	}
}

// TestUpstreamV5RefusalShown: a publish the upstream refuses (mosquitto's
// ACL: PUBACK 0x87 Not authorized) is counted and its reason shown on the
// status API, in /metrics and in `gateway buffer stats`, with the protocol.
func TestUpstreamV5RefusalShown(t *testing.T) {
	dir := t.TempDir()
	acl := filepath.Join(dir, "acl")
	// Anonymous clients may publish the gateway's status, not its readings.
	if err := os.WriteFile(acl, []byte("topic readwrite sites/gw/status\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// max_queued_messages: mosquitto 2.0.11 with 0 drops an MQTT 5.0
	// connection after a denied QoS 1 publish instead of answering it.
	up := mqtttest.StartMosquitto(t, mqtttest.WithConfig("acl_file "+acl, "max_queued_messages 1000"))
	web := "127.0.0.1:" + strconv.Itoa(mqtttest.FreePort(t))
	path := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(path, []byte(meterConfig(dir, up.URL(), 5, mqtttest.FreePort(t), web, "50ms", "")), 0o644); err != nil {
		t.Fatal(err)
	}
	startGatewayBinary(t, path)
	get := func(path string) string { return httpGet("http://" + web + path) }
	var st struct {
		Uplink struct {
			Protocol       string `json:"protocol"`
			Refused        int64  `json:"refused"`
			LastReasonCode byte   `json:"last_reason_code"`
			LastReason     string `json:"last_reason"`
		} `json:"uplink"`
	}
	testutil.WaitFor(t, 30*time.Second, "the status API to show the refused publishes", func() bool {
		return json.Unmarshal([]byte(get("/api/status")), &st) == nil && st.Uplink.Refused >= 2
	})
	if u := st.Uplink; u.Protocol != "5.0" || u.LastReasonCode != 0x87 || u.LastReason != "PUBACK 0x87 Not authorized" {
		t.Errorf("status uplink %+v, want protocol 5.0 and PUBACK 0x87 Not authorized", u)
	}
	metrics := get("/metrics")
	if !regexp.MustCompile(`(?m)^gateway_uplink_messages_refused_total [1-9]`).MatchString(metrics) {
		t.Errorf("/metrics lacks refused publishes:\n%s", metrics)
	}
	db := filepath.Join(dir, "data", "buffer.db")
	testutil.WaitFor(t, 20*time.Second, "buffer stats to show the refusal", func() bool {
		s, err := readStats(db)
		return err == nil && s.UplinkProtocol == "5.0" && s.LastRefusal == "PUBACK 0x87 Not authorized"
	})
}

// TestUpstreamRefusedConnect: a connection the upstream refuses (mosquitto
// without anonymous access: CONNACK 0x87, or 3.1.1's return code 5) shows
// on the status API and in `gateway buffer stats` as the last refusal.
func TestUpstreamRefusedConnect(t *testing.T) { forVersions(t, testUpstreamRefusedConnect) }

func testUpstreamRefusedConnect(t *testing.T, version int) {
	dir := t.TempDir()
	up := mqtttest.StartMosquitto(t, mqtttest.WithConfig("allow_anonymous false"))
	web := "127.0.0.1:" + strconv.Itoa(mqtttest.FreePort(t))
	path := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(path, []byte(meterConfig(dir, up.URL(), version, mqtttest.FreePort(t), web, "1s", "")), 0o644); err != nil {
		t.Fatal(err)
	}
	startGatewayBinary(t, path)
	want := "CONNACK 0x87 Not authorized"
	var st struct {
		Uplink struct {
			State      string `json:"state"`
			LastErr    string `json:"last_error"`
			Protocol   string `json:"protocol"`
			Refused    int64  `json:"refused"`
			LastReason string `json:"last_reason"`
		} `json:"uplink"`
	}
	testutil.WaitFor(t, 30*time.Second, "the status API to show the refused connection", func() bool {
		return json.Unmarshal([]byte(httpGet("http://"+web+"/api/status")), &st) == nil && st.Uplink.LastReason != ""
	})
	if u := st.Uplink; u.LastReason != want || u.State != "down" || u.Refused != 0 || u.Protocol != protocolName(version) {
		t.Errorf("status uplink %+v, want down, last reason %q, no refused publishes, protocol %s", u, want, protocolName(version))
	}
	db := filepath.Join(dir, "data", "buffer.db")
	testutil.WaitFor(t, 20*time.Second, "buffer stats to show the refusal", func() bool {
		s, err := readStats(db)
		return err == nil && s.LastRefusal == want && s.UplinkProtocol == protocolName(version)
	})
}

func protocolName(version int) string { return map[int]string{4: "3.1.1", 5: "5.0"}[version] }

// httpGet returns the body of a 200 answer to GET url, or "" (for a server
// not listening yet, or another status).
func httpGet(url string) string {
	resp, err := http.Get(url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return ""
	}
	return string(b)
}
