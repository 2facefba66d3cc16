package upstream_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/edgegw/gateway"
	"github.com/edgegw/gateway/internal/mqtttest"
	"github.com/edgegw/gateway/internal/tcpproxy"
	"github.com/edgegw/gateway/internal/testutil"
	"github.com/edgegw/gateway/upstream"
)

// BenchmarkTopicAliasBytes measures what the forwarder sends upstream per
// message (MQTT 5.0, QoS 1, the default "ts" user property) with and
// without Topic Aliases: a backlog of b.N readings of 50 points, queued
// while the uplink is cut, drained from the buffer to mosquitto through a
// proxy that counts the bytes (PUBLISH packets, and one CONNECT). The
// points' local topics are the default mapping's "{gateway}/{device}/{point}",
// forwarded under remote_prefix "sites/boiler-room"; the payloads are the
// mapping's json and value formats. Reported: wire-B/msg, and cpu-us/msg of
// this process during the drain (buffer, forwarder, client; not
// mosquitto's); ns/op is the wall time per message from restoring the link
// to the buffer empty (reconnect wait included: not a drain rate).
//
//	go test -run '^$' -bench TopicAliasBytes -benchtime 20000x ./upstream/
func BenchmarkTopicAliasBytes(b *testing.B) {
	const points = 50
	payloads := []struct{ name, payload string }{
		{"json", `{"value":21.5,"unit":"°C","ts":"2026-12-02T12:00:00.000Z","quality":"good"}`},
		{"value", "21.5"},
	}
	servers := []struct {
		name    string
		config  []string
		aliases int // topic_aliases
	}{
		{"off", nil, 0},
		{"mosquitto-default-10", nil, upstream.DefaultTopicAliases},
		{"max_topic_alias-100", []string{"max_topic_alias 100"}, upstream.DefaultTopicAliases},
	}
	for _, p := range payloads {
		for _, s := range servers {
			b.Run(p.name+"/"+s.name, func(b *testing.B) {
				up := mqtttest.StartMosquitto(b, mqtttest.WithConfig(s.config...))
				proxy, err := tcpproxy.Start(strings.TrimPrefix(up.URL(), "mqtt://"), 0)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { _ = proxy.Close() }) // closing down
				cfg := versionConfig("mqtt://"+proxy.Addr(), 5)
				cfg.KeepAlive = time.Minute
				cfg.TopicAliases = s.aliases
				cfg.Forward = []upstream.ForwardRule{{Filter: "pi-boiler-room/#", RemotePrefix: "sites/boiler-room",
					TimestampProperty: upstream.DefaultTimestampProperty}}
				g := startGW(b, filepath.Join(b.TempDir(), "buffer.db"), cfg, nil, nil)
				waitUp(b, g.fwd)
				topics := make([]string, points)
				for i := range topics {
					topics[i] = fmt.Sprintf("pi-boiler-room/boiler-%02d/temperature", i)
				}
				// The backlog is queued while the uplink is cut, so that the
				// drain alone is timed and its CPU counted.
				proxy.Cut()
				testutil.WaitFor(b, 30*time.Second, "the uplink to go down", func() bool { return g.fwd.Status().State == "down" })
				var wg sync.WaitGroup
				for i, topic := range topics { // a goroutine per point, as the drivers publish
					wg.Go(func() {
						for range (b.N + points - 1 - i) / points {
							m := gateway.Message{Topic: topic, Payload: []byte(p.payload), QoS: 1, Time: time.Now()}
							if err := g.in.Publish(b.Context(), m); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				sent0, cpu0 := proxy.Sent(), cpuTime(b)
				b.ResetTimer()
				proxy.Restore()
				g.waitEmpty(b)
				b.StopTimer()
				b.ReportMetric(float64(proxy.Sent()-sent0)/float64(b.N), "wire-B/msg")
				b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(b.N), "cpu-us/msg")
			})
		}
	}
}

// cpuTime is the user and system CPU time this process has used.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
