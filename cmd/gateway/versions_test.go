package main

import (
	"bufio"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgegw/gateway/broker"
	"github.com/edgegw/gateway/config"
	"github.com/edgegw/gateway/internal/mqtttest"
	"github.com/edgegw/gateway/internal/testutil"
	"github.com/edgegw/gateway/pipeline"
)

// TestClientsByVersion: with mosquitto_sub clients of MQTT 3.1, 3.1.1 and
// 5.0 connected to the local broker, the $SYS topics, /metrics and the
// status JSON count one client of each version, through the gateway's own
// wiring of the status page.
func TestClientsByVersion(t *testing.T) {
	bin := mqtttest.NeedTool(t, "mosquitto_sub")
	b, err := broker.New(broker.Config{SysInterval: 50 * time.Millisecond,
		Listeners: []broker.Listener{{Address: "127.0.0.1:0", Protocol: "mqtt"}}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() }) // closing after the test; its error is not the test's
	host, port, _ := strings.Cut(b.Addrs()[0].String(), ":")

	// The 3.1 client watches the counters; the 3.1.1 and 5.0 ones just stay.
	var mu sync.Mutex
	sys := map[string]string{}
	for _, v := range []string{"mqttv31", "mqttv311", "mqttv5"} {
		args := []string{"-h", host, "-p", port, "-V", v, "-i", "by-" + v, "-t", "x"}
		if v == "mqttv31" {
			args = append(args, "-t", "$SYS/broker/clients/connected/#", "-v")
		}
		cmd := exec.Command(bin, args...)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				if k, v, ok := strings.Cut(sc.Text(), " "); ok {
					mu.Lock()
					sys[k] = v
					mu.Unlock()
				}
			}
			io.Copy(io.Discard, out)
			cmd.Wait() // killed by the cleanup
		}()
		t.Cleanup(func() {
			cmd.Process.Kill() // may have exited already
			<-done
		})
	}
	testutil.WaitFor(t, 10*time.Second, "three clients connected", func() bool { return b.Stats().ClientsConnected == 3 })

	want := map[string]string{
		"$SYS/broker/clients/connected":         "3",
		"$SYS/broker/clients/connected/mqtt5":   "1",
		"$SYS/broker/clients/connected/mqtt311": "1",
		"$SYS/broker/clients/connected/mqtt31":  "1",
		"$SYS/broker/clients/connected/mqtt3":   "2",
	}
	testutil.WaitFor(t, 10*time.Second, "the $SYS counters by version", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for k, v := range want {
			if sys[k] != v {
				return false
			}
		}
		return true
	})

	var cfg config.Config
	cfg.Web.Address = "127.0.0.1:0" // not bound: the handler is served below
	srv, closer, err := webServer(t.Context(), &cfg, slog.New(slog.DiscardHandler), b,
		func() *pipeline.Pipeline { return nil }, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close() // nothing to release without a buffer
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	get := func(path string) string {
		t.Helper()
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %v", path, resp.StatusCode, err)
		}
		return string(body)
	}
	metrics := get("/metrics")
	for _, line := range []string{
		"gateway_broker_clients_connected 3",
		`gateway_broker_clients_connected_by_version{version="5.0"} 1`,
		`gateway_broker_clients_connected_by_version{version="3.1.1"} 1`,
		`gateway_broker_clients_connected_by_version{version="3.1"} 1`,
	} {
		if !strings.Contains(metrics, line+"\n") {
			t.Errorf("/metrics lacks %q", line)
		}
	}
	var st struct {
		Broker map[string]json.Number `json:"broker"`
	}
	dec := json.NewDecoder(strings.NewReader(get("/api/status")))
	dec.UseNumber()
	if err := dec.Decode(&st); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]int{"clients_connected": 3, "clients_mqtt5": 1, "clients_mqtt311": 1, "clients_mqtt31": 1} {
		if got := st.Broker[k].String(); got != strconv.Itoa(v) {
			t.Errorf("/api/status broker.%s = %q, want %d", k, got, v)
		}
	}
}
