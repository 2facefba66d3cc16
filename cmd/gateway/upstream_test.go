package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgegw/gateway/buffer"
	"github.com/edgegw/gateway/drivers/modbus/modbussim"
	"github.com/edgegw/gateway/internal/mqtttest"
	"github.com/edgegw/gateway/internal/testutil"
)

// startModbusSim serves a simulated Modbus TCP slave on a free loopback port.
func startModbusSim(t *testing.T) (*modbussim.Server, string) {
	t.Helper()
	sim := modbussim.New(slog.New(slog.DiscardHandler))
	addr, stop, err := sim.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("modbus simulator: %v", err)
		}
	})
	return sim, addr
}

// runGateway runs `gateway run -c path` in-process until the test ends or
// the returned stop is called; it returns once the uplink is up.
func runGateway(t *testing.T, path string) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	stderr := newLineWriter()
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"run", "-c", path}, newLineWriter(), stderr) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("gateway: %v", err)
		}
	}
	t.Cleanup(stop)
	deadline := time.After(20 * time.Second)
	for {
		select {
		case line := <-stderr.lines:
			if strings.Contains(line, `msg="uplink up"`) {
				return stop
			}
		case err := <-done:
			stopped = true
			t.Fatalf("gateway stopped: %v", err)
		case <-deadline:
			t.Fatal("the uplink never came up")
		}
	}
}

// waitMessage waits until the recorder has a message for which ok holds.
func waitMessage(t *testing.T, rec *mqtttest.Recorder, what string, ok func(mqtttest.Message) bool) mqtttest.Message {
	t.Helper()
	var found mqtttest.Message
	defer func() {
		if found.Topic == "" { // WaitFor failed the test: show what came
			t.Logf("upstream got:\n%v", rec.Snapshot())
		}
	}()
	testutil.WaitFor(t, 20*time.Second, "upstream to receive "+what, func() bool {
		for _, m := range rec.Snapshot() {
			if ok(m) {
				found = m
				return true
			}
		}
		return false
	})
	return found
}

// TestUpstreamCommandReachesDevice joins the whole command path with a real
// upstream mosquitto: a cloud client publishes a command upstream, the
// gateway's subscribe rule brings it to the local command topic, the
// commander writes the Modbus register, and the result and the new reading
// go back upstream through the buffer. The command itself is not echoed back
// up although the forward filter matches its local topic. A command sent
// while the gateway is stopped is kept by the upstream broker (the gateway's
// persistent session) and written when the gateway is back.
func TestUpstreamCommandReachesDevice(t *testing.T) {
	forVersions(t, testUpstreamCommandReachesDevice)
}

// uplinkConfig is the start of the end-to-end tests' config files: gateway
// "gw" with its data in dir, the status page on web ("" for none), and an
// uplink to url as clientID speaking protocol version, forwarding gw/#
// under sites/. The caller adds its own tables after it (more keys of the
// forward rule first, if any).
func uplinkConfig(dir, web, url, clientID string, version int) string {
	return `[gateway]
name = "gw"
data_dir = "` + filepath.Join(dir, "data") + `"

[web]
address = "` + web + `"

[upstream]
url = "` + url + `"
client_id = "` + clientID + `"
protocol_version = ` + strconv.Itoa(version) + `

  [[upstream.forward]]
  filter = "gw/#"
  remote_prefix = "sites"
`
}

// forVersions runs test once per upstream protocol_version: MQTT 3.1.1 and
// 5.0.
func forVersions(t *testing.T, test func(t *testing.T, version int)) {
	for _, v := range []int{4, 5} {
		t.Run(fmt.Sprintf("protocol_version=%d", v), func(t *testing.T) { test(t, v) })
	}
}

func testUpstreamCommandReachesDevice(t *testing.T, version int) {
	up := mqtttest.StartMosquitto(t, logConnections)
	rec := mqtttest.Subscribe(t, up.URL(), "sites/#")
	sim, addr := startModbusSim(t)
	dir := t.TempDir()
	cfg := uplinkConfig(dir, "", up.URL(), "gw-e2e", version) + `
  [[upstream.subscribe]]
  filter = "cmd/gw/#"
  local_prefix = "gw"

[[devices]]
name = "boiler"
driver = "modbus-tcp"
address = "` + addr + `"
slave_id = 1
interval = "100ms"

  [[devices.points]]
  name = "setpoint"
  register = "holding"
  address = 0
  type = "int16"
  scale = 0.1
`
	path := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cloud := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(up.URL()).SetClientID("cloud"))
	if tok := cloud.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("cloud connect: %v", tok.Error())
	}
	t.Cleanup(func() { cloud.Disconnect(250) })
	command := func(payload string) {
		t.Helper()
		if tok := cloud.Publish("cmd/gw/boiler/setpoint/set", 1, false, payload); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("cloud publish: %v", tok.Error())
		}
	}
	// check waits for the command's result and the new reading upstream,
	// and for the register in the simulator.
	check := func(value float64) {
		t.Helper()
		waitMessage(t, rec, "the command result", func(m mqtttest.Message) bool {
			var res struct {
				OK    bool    `json:"ok"`
				Value float64 `json:"value"`
			}
			return m.Topic == "sites/gw/boiler/setpoint/set/result" &&
				json.Unmarshal([]byte(m.Payload), &res) == nil && res.OK && res.Value == value
		})
		var reg uint16
		sim.Do(func(s *modbussim.Store) { reg = s.Holding[0] })
		if want := uint16(value * 10); reg != want {
			t.Errorf("holding register 0 = %d, want %d", reg, want)
		}
		waitMessage(t, rec, "the new reading", func(m mqtttest.Message) bool {
			var r struct{ Value float64 }
			return m.Topic == "sites/gw/boiler/setpoint" && json.Unmarshal([]byte(m.Payload), &r) == nil && r.Value == value
		})
	}

	stop := runGateway(t, path)
	command("23.5")
	check(23.5)

	stop()
	command("19") // the gateway is down: the upstream broker keeps it for the session
	runGateway(t, path)
	check(19)

	for _, m := range rec.Snapshot() {
		if m.Topic == "sites/gw/boiler/setpoint/set" {
			t.Errorf("the command came down and was forwarded back up: %v", m)
		}
	}
	wantProtocol(t, up, "gw-e2e", version)
}

// logConnections makes mosquitto log each connection with its protocol.
var logConnections = mqtttest.WithConfig("log_type notice", "connection_messages true")

// wantProtocol fails the test unless clientID connected to up, every time
// with protocol_version version: mosquitto logs "as ID (p2, ..." for
// MQTT 3.1.1 and "(p5, ..." for 5.0 (p1 would be a fallback to 3.1).
func wantProtocol(t *testing.T, up *mqtttest.Mosquitto, clientID string, version int) {
	t.Helper()
	want := map[int]string{4: "p2", 5: "p5"}[version]
	n := 0
	for _, line := range strings.Split(up.Log(), "\n") {
		_, rest, ok := strings.Cut(line, " as "+clientID+" (")
		if !ok {
			continue
		}
		n++
		if got, _, _ := strings.Cut(rest, ","); got != want {
			t.Errorf("mosquitto: %s: want protocol %s (protocol_version %d)", line, want, version)
		}
	}
	if n == 0 {
		t.Errorf("mosquitto logged no connection of %s:\n%s", clientID, up.Log())
	}
}

// TestKill9KeepsBacklog: the real gateway process buffers readings while
// the upstream broker is down and is killed with SIGKILL; every message
// its database held at that moment reaches the upstream broker once both
// are back.
func TestKill9KeepsBacklog(t *testing.T) { forVersions(t, testKill9KeepsBacklog) }

func testKill9KeepsBacklog(t *testing.T, version int) {
	bin := gatewayBinary(t)
	up := mqtttest.NewMosquitto(t, logConnections) // not started: the uplink is down
	dir := t.TempDir()
	db := filepath.Join(dir, "data", "buffer.db")
	cfg := uplinkConfig(dir, "", up.URL(), "gw-kill", version) + `
[[devices]]
name = "meter"
driver = "sim"
interval = "5ms"
payload = "value"

  [[devices.points]]
  name = "a"
  wave = "counter"

  [[devices.points]]
  name = "b"
  wave = "counter"
`
	path := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "run", "-c", path)
		cmd.Stderr = &testutil.SyncBuffer{}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }) // killed already when the test passes
		return cmd
	}
	gw := start()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("gateway log:\n%s", gw.Stderr)
		}
	})
	// Wait for a backlog on disk, then kill.
	testutil.WaitFor(t, 20*time.Second, "a backlog of 300 messages in the buffer", func() bool {
		s, err := readStats(db)
		return err == nil && s.Depth >= 300
	})
	if err := gw.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = gw.Wait() // killed: the exit status says so
	r, err := buffer.OpenReader(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	held, err := r.List(t.Context(), buffer.Filter{})
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(held) < 300 {
		t.Fatalf("the database holds %d messages after the kill, want >= 300", len(held))
	}

	up.Start()
	rec := mqtttest.Subscribe(t, up.URL(), "sites/#")
	gw = start()
	want := map[string]bool{}
	for _, e := range held {
		want["sites/"+e.Topic+" "+string(e.Payload)] = true
	}
	testutil.WaitFor(t, 30*time.Second, fmt.Sprintf("the %d messages held at the kill upstream", len(want)), func() bool {
		seen := map[string]bool{}
		for _, m := range rec.Snapshot() {
			seen[m.String()] = true
		}
		for k := range want {
			if !seen[k] {
				return false
			}
		}
		return true
	})
	wantProtocol(t, up, "gw-kill", version)
}

// readStats reads the buffer's stats as `gateway buffer stats` does.
func readStats(db string) (buffer.Stats, error) {
	r, err := buffer.OpenReader(context.Background(), db)
	if err != nil {
		return buffer.Stats{}, err
	}
	defer r.Close()
	return r.Stats(context.Background())
}
