package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/edgegw/gateway/drivers/modbus/modbussim"
	"github.com/edgegw/gateway/internal/mqtttest"
	"github.com/edgegw/gateway/internal/testutil"
)

// subMessage is one message a mosquitto_sub printed.
type subMessage struct {
	Retained       bool
	Topic, Payload string
	Expiry         string   // MQTT 5.0 (startSubV5): the Message Expiry Interval, "" none
	UserProps      []string // MQTT 5.0 (startSubV5): the user properties, "name:value", in order
}

// mosquittoSub is a real mosquitto_sub running until the test ends.
type mosquittoSub struct {
	mu   sync.Mutex
	msgs []subMessage
}

// startSub runs mosquitto_sub -t filter against 127.0.0.1:port.
func startSub(t *testing.T, port int, filter string) *mosquittoSub {
	t.Helper()
	return startSubArgs(t, port, filter)
}

// startSubV5 runs mosquitto_sub -V mqttv5, which also prints the message
// expiry and the user properties.
func startSubV5(t *testing.T, port int, filter string) *mosquittoSub {
	t.Helper()
	return startSubArgs(t, port, filter, "-V", "mqttv5")
}

func startSubArgs(t *testing.T, port int, filter string, args ...string) *mosquittoSub {
	t.Helper()
	bin := mqtttest.NeedTool(t, "mosquitto_sub")
	// Fields apart by tabs, the payload last: retained, topic, expiry, user properties.
	args = append(args, "-h", "127.0.0.1", "-p", strconv.Itoa(port), "-q", "1", "-t", filter, "-F", "%r\t%t\t%E\t%P\t%p")
	cmd := exec.Command(bin, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &mosquittoSub{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			f := strings.SplitN(sc.Text(), "\t", 5)
			if len(f) < 5 {
				continue // the rest of a payload with a newline
			}
			m := subMessage{Retained: f[0] == "1", Topic: f[1], Expiry: f[2], UserProps: strings.Fields(f[3]), Payload: f[4]}
			s.mu.Lock()
			s.msgs = append(s.msgs, m)
			s.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // it runs until killed
		_ = cmd.Wait()         // killed: the exit status says so
		<-done
	})
	return s
}

// snapshot returns the messages so far.
func (s *mosquittoSub) snapshot() []subMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]subMessage(nil), s.msgs...)
}

// wait waits for a message after the first `from` for which ok holds and
// returns its index.
func (s *mosquittoSub) wait(t *testing.T, what string, from int, ok func(subMessage) bool) int {
	t.Helper()
	found := -1
	defer func() {
		if found < 0 { // WaitFor failed the test: show what came
			var b strings.Builder
			msgs := s.snapshot()
			for _, m := range msgs[min(from, len(msgs)):] {
				fmt.Fprintf(&b, "  %v %s %.200s\n", m.Retained, m.Topic, m.Payload)
			}
			t.Logf("mosquitto_sub got:\n%s", b.String())
		}
	}()
	testutil.WaitFor(t, 30*time.Second, "mosquitto_sub to get "+what, func() bool {
		msgs := s.snapshot()
		for i := from; i < len(msgs); i++ {
			if ok(msgs[i]) {
				found = i
				return true
			}
		}
		return false
	})
	return found
}

// is returns a matcher for a message on topic with payload.
func is(topic, payload string) func(subMessage) bool {
	return func(m subMessage) bool { return m.Topic == topic && m.Payload == payload }
}

func mosquittoPub(t *testing.T, port int, topic, payload string) {
	t.Helper()
	bin := mqtttest.NeedTool(t, "mosquitto_pub")
	if out, err := exec.Command(bin, "-h", "127.0.0.1", "-p", strconv.Itoa(port), "-q", "1", "-t", topic, "-m", payload).CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_pub %s: %v\n%s", topic, err, out)
	}
}

// haTestConfig is the config of TestAvailabilityAndDiscovery; without
// power, the meter's power point is gone.
func haTestConfig(dir string, port, version int, upstreamURL, modbusAddr string, energy, power bool) string {
	cfg := uplinkConfig(dir, "", upstreamURL, "gw-ha", version) + `
[[broker.listeners]]
address = "127.0.0.1:` + strconv.Itoa(port) + `"

[homeassistant]
enabled = true

  [[upstream.forward]]
  filter = "homeassistant/#"

  [[upstream.subscribe]]
  filter = "cmd/gw/#"
  local_prefix = "gw"

[[devices]]
name = "boiler"
driver = "modbus-tcp"
address = "` + modbusAddr + `"
interval = "100ms"
timeout = "200ms"
retries = 0
manufacturer = "Acme"

  [[devices.points]]
  name = "temperature"
  register = "input"
  address = 0
  type = "int16"
  scale = 0.1
  unit = "°C"

  [[devices.points]]
  name = "setpoint"
  register = "holding"
  address = 0
  type = "int16"
  scale = 0.1
  unit = "°C"
  min = 5.0
  max = 30.0

[[devices]]
name = "meter"
driver = "sim"
interval = "200ms"
`
	if energy {
		cfg += `
  [[devices.points]]
  name = "energy"
  unit = "kWh"
  wave = "counter"
`
	}
	if power {
		cfg += `
  [[devices.points]]
  name = "power"
  unit = "W"
  wave = "random_walk"
  min = 0.0
  max = 100.0
  step = 1.0
`
	}
	return cfg
}

// TestAvailabilityAndDiscovery runs the real binary with a real upstream
// mosquitto, a Modbus simulator and real mosquitto_sub/_pub clients:
// retained discovery configs on the local broker and upstream (with the
// upstream topics), the gateway's and the devices' status topics, a
// republish when Home Assistant says online, a command on a number
// entity's command topic writing the register, a removed point's config
// cleared on SIGHUP, a device going offline (with no stale readings) when
// the simulator stops, and the gateway going offline upstream on kill -9
// through the MQTT will.
func TestAvailabilityAndDiscovery(t *testing.T) { forVersions(t, testAvailabilityAndDiscovery) }

func testAvailabilityAndDiscovery(t *testing.T, version int) {
	bin := gatewayBinary(t)
	up := mqtttest.StartMosquitto(t, logConnections)
	t.Cleanup(func() { wantProtocol(t, up, "gw-ha", version) })
	upSub := startSub(t, up.Port(), "#")
	sim := modbussim.New(slog.New(slog.DiscardHandler))
	simAddr, stopSim, err := sim.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	simStopped := false
	t.Cleanup(func() {
		if !simStopped {
			_ = stopSim() // the test's end: nothing to check
		}
	})
	dir := t.TempDir()
	port := mqtttest.FreePort(t)
	path := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(path, []byte(haTestConfig(dir, port, version, up.URL(), simAddr, true, true)), 0o644); err != nil {
		t.Fatal(err)
	}
	stderr := &testutil.SyncBuffer{}
	defer func() {
		if t.Failed() {
			t.Logf("gateway log:\n%s", stderr)
		}
	}()
	startGateway := func() *exec.Cmd {
		gw := exec.Command(bin, "run", "-c", path)
		gw.Stderr = stderr
		if err := gw.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = gw.Process.Kill(); _ = gw.Wait() }) // killed already when the test passes
		testutil.WaitFor(t, 30*time.Second, "the gateway's broker to listen", func() bool {
			c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
			if err == nil {
				c.Close()
			}
			return err == nil
		})
		return gw
	}
	gw := startGateway()

	// Retained configs, one per entity, on the local broker: a subscriber
	// that comes after they were published (the first may have connected
	// before) gets them retained.
	first := startSub(t, port, "homeassistant/#")
	configs := []string{
		"homeassistant/binary_sensor/gw/status/config",
		"homeassistant/sensor/gw_boiler/temperature/config",
		"homeassistant/number/gw_boiler/setpoint/config",
		"homeassistant/sensor/gw_meter/energy/config",
		"homeassistant/sensor/gw_meter/power/config",
	}
	for _, c := range configs {
		first.wait(t, c, 0, func(m subMessage) bool { return m.Topic == c })
	}
	ha := startSub(t, port, "homeassistant/#")
	for _, c := range configs {
		i := ha.wait(t, c, 0, func(m subMessage) bool { return m.Topic == c && m.Retained && m.Payload != "" })
		if c == "homeassistant/number/gw_boiler/setpoint/config" {
			var cfg struct {
				StateTopic       string `json:"state_topic"`
				CommandTopic     string `json:"command_topic"`
				DeviceClass      string `json:"device_class"`
				AvailabilityMode string `json:"availability_mode"`
				Availability     []struct{ Topic string }
				Device           struct {
					Manufacturer string `json:"manufacturer"`
					ViaDevice    string `json:"via_device"`
				}
			}
			if err := json.Unmarshal([]byte(ha.snapshot()[i].Payload), &cfg); err != nil {
				t.Fatal(err)
			}
			if cfg.StateTopic != "gw/boiler/setpoint" || cfg.CommandTopic != "gw/boiler/setpoint/set" || cfg.DeviceClass != "temperature" ||
				cfg.AvailabilityMode != "all" || len(cfg.Availability) != 2 || cfg.Availability[0].Topic != "gw/status" ||
				cfg.Availability[1].Topic != "gw/boiler/status" || cfg.Device.Manufacturer != "Acme" || cfg.Device.ViaDevice != "gw" {
				t.Errorf("setpoint config: %+v", cfg)
			}
		}
	}
	// Availability, retained.
	gwSub := startSub(t, port, "gw/#")
	gwSub.wait(t, "the gateway online (retained)", 0, func(m subMessage) bool { return is("gw/status", "online")(m) && m.Retained })
	gwSub.wait(t, "the boiler online", 0, is("gw/boiler/status", "online"))
	// Upstream: the birth message, and the configs with upstream topics.
	upSub.wait(t, "the birth message upstream", 0, is("sites/gw/status", "online"))
	upSub.wait(t, "the setpoint's config upstream", 0, func(m subMessage) bool {
		return m.Topic == "homeassistant/number/gw_boiler/setpoint/config" &&
			strings.Contains(m.Payload, `"state_topic":"sites/gw/boiler/setpoint"`) &&
			strings.Contains(m.Payload, `{"topic":"sites/gw/status"},{"topic":"sites/gw/boiler/status"}`) &&
			strings.Contains(m.Payload, `"command_topic":"cmd/gw/boiler/setpoint/set"`) // what the subscribe rule brings down
	})

	// Home Assistant restarts: its birth message makes the gateway publish
	// the configs again (live, so retain is 0 for this subscriber).
	n := len(ha.snapshot())
	mosquittoPub(t, port, "homeassistant/status", "online")
	ha.wait(t, "the configs again after homeassistant/status online", n, func(m subMessage) bool {
		return m.Topic == "homeassistant/number/gw_boiler/setpoint/config" && !m.Retained && m.Payload != ""
	})

	// What Home Assistant sends on the number's command topic.
	mosquittoPub(t, port, "gw/boiler/setpoint/set", "21.5")
	gwSub.wait(t, "the command's result", 0, func(m subMessage) bool {
		return m.Topic == "gw/boiler/setpoint/set/result" && strings.Contains(m.Payload, `"ok":true`)
	})
	var reg uint16
	sim.Do(func(s *modbussim.Store) { reg = s.Holding[0] })
	if reg != 215 {
		t.Errorf("holding register 0 = %d after the command 21.5, want 215", reg)
	}

	// SIGHUP with the meter's power point removed: its config is cleared.
	if err := os.WriteFile(path, []byte(haTestConfig(dir, port, version, up.URL(), simAddr, true, false)), 0o644); err != nil {
		t.Fatal(err)
	}
	n = len(ha.snapshot())
	if err := gw.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	ha.wait(t, "an empty config for the removed point", n, is("homeassistant/sensor/gw_meter/power/config", ""))
	for _, m := range ha.snapshot()[n:] {
		if m.Payload == "" && m.Topic != "homeassistant/sensor/gw_meter/power/config" {
			t.Errorf("reload cleared %s, which is still configured", m.Topic)
		}
	}

	// The simulator stops: the boiler goes offline, and its readings carry
	// no value from before.
	n = len(gwSub.snapshot())
	if err := stopSim(); err != nil {
		t.Fatal(err)
	}
	simStopped = true
	off := gwSub.wait(t, "the boiler offline", n, is("gw/boiler/status", "offline"))
	bad := gwSub.wait(t, "a bad reading of the stopped boiler", n, func(m subMessage) bool {
		return m.Topic == "gw/boiler/temperature" && strings.Contains(m.Payload, `"quality":"bad"`)
	})
	gwSub.wait(t, "more readings after offline", max(off, bad)+1, func(m subMessage) bool { return m.Topic == "gw/boiler/temperature" })
	for _, m := range gwSub.snapshot()[bad:] {
		if (m.Topic == "gw/boiler/temperature" || m.Topic == "gw/boiler/setpoint") && !strings.Contains(m.Payload, `"value":null`) {
			t.Errorf("after the boiler went down: %s %s", m.Topic, m.Payload)
		}
	}
	upSub.wait(t, "the boiler offline upstream", 0, is("sites/gw/boiler/status", "offline"))

	// kill -9: the upstream broker publishes the will.
	if err := gw.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = gw.Wait() // killed: the exit status says so
	upSub.wait(t, "the gateway offline upstream (the will)", 0, is("sites/gw/status", "offline"))
	late := startSub(t, up.Port(), "sites/gw/status")
	late.wait(t, "the retained offline upstream", 0, func(m subMessage) bool { return m.Payload == "offline" && m.Retained })

	// The energy point removed while the gateway was down: the next start
	// clears the config it had left retained.
	if err := os.WriteFile(path, []byte(haTestConfig(dir, port, version, up.URL(), simAddr, false, false)), 0o644); err != nil {
		t.Fatal(err)
	}
	startGateway()
	testutil.WaitFor(t, 30*time.Second, "the restarted gateway to clear the energy point's config", func() bool {
		return strings.Contains(stderr.String(), "topic=homeassistant/sensor/gw_meter/energy/config")
	})
	after := startSub(t, port, "homeassistant/#")
	after.wait(t, "the setpoint's config (retained)", 0, func(m subMessage) bool {
		return m.Topic == "homeassistant/number/gw_boiler/setpoint/config" && m.Retained
	})
	upSub.wait(t, "the energy point's config cleared upstream too", 0, is("homeassistant/sensor/gw_meter/energy/config", ""))
	for _, m := range after.snapshot() {
		if strings.Contains(m.Topic, "gw_meter") {
			t.Errorf("after the restart: %s %q, want no config of the meter's removed points", m.Topic, m.Payload)
		}
	}
}
