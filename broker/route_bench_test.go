package broker

import (
	"bufio"
	"fmt"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/edgegw/gateway/broker/packet"
)

// BenchmarkRoute measures the broker's hot path end to end over loopback
// TCP: one publisher writes pre-encoded QoS 0 PUBLISH packets as fast as
// the broker reads them, and subscribers read and count what arrives. One
// op is one message published; besides ns/op it reports the process CPU
// per delivered message (cpu-ns/msg: broker and the cheap clients, from
// getrusage), which is steadier than wall time on a shared machine. The
// cases compare MQTT 3.1.1, 5.0, and 5.0 with two User
// Properties and a Message Expiry Interval (bench/mqttload -props), fan-in
// to one subscriber and fan-out to eight (docs/benchmarks-broker.md).
//
//	go test -run XXX -bench BenchmarkRoute -benchtime 200000x -count 5 ./broker/
func BenchmarkRoute(b *testing.B) {
	props := &packet.Properties{MessageExpiry: new(uint32(3600)),
		User: []packet.UserProperty{{Key: "source", Value: "mqttload"}, {Key: "unit", Value: "W"}}}
	for _, subs := range []int{1, 8} {
		for _, v := range []struct {
			name    string
			version byte
			props   *packet.Properties
		}{{"v311", packet.Version311, nil}, {"v5", packet.Version5, nil}, {"v5-props", packet.Version5, props}} {
			b.Run(fmt.Sprintf("subs=%d/%s", subs, v.name), func(b *testing.B) {
				benchRoute(b, v.version, v.props, subs)
			})
		}
	}
}

func benchRoute(b *testing.B, version byte, props *packet.Properties, subs int) {
	cfg := Config{Listeners: []Listener{{Address: "127.0.0.1:0", Protocol: "mqtt"}},
		MaxQueuedMessages: 10_000_000, MaxQueuedBytes: 1 << 30, MaxMemory: 4 << 30, MaxInflight: 32}
	br, err := New(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := br.Start(b.Context()); err != nil {
		b.Fatal(err)
	}
	defer br.Close()
	addr := br.Addrs()[0].String()
	dial := func(id string) (net.Conn, *bufio.Reader) {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		cp := &packet.Connect{ProtocolName: "MQTT", ProtocolLevel: version, ClientID: id, CleanSession: true}
		if _, err := nc.Write(cp.Append(nil)); err != nil {
			b.Fatal(err)
		}
		r := bufio.NewReaderSize(nc, 64<<10)
		if _, _, err := packet.ReadFrame(r, 0); err != nil { // CONNACK
			b.Fatal(err)
		}
		return nc, r
	}
	var got atomic.Int64
	done := make(chan struct{}, subs)
	want := int64(b.N)
	for i := range subs {
		nc, r := dial(fmt.Sprintf("sub%d", i))
		defer nc.Close()
		s := &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "bench/#"}}}
		if _, err := nc.Write(s.AppendVersion(nil, version)); err != nil {
			b.Fatal(err)
		}
		if _, _, err := packet.ReadFrame(r, 0); err != nil { // SUBACK
			b.Fatal(err)
		}
		go func() {
			var n int64
			for n < want {
				first, err := r.ReadByte()
				if err != nil {
					return
				}
				size := 0
				for shift := 0; ; shift += 7 {
					c, err := r.ReadByte()
					if err != nil {
						return
					}
					size |= int(c&0x7f) << shift
					if c&0x80 == 0 {
						break
					}
				}
				if _, err := r.Discard(size); err != nil {
					return
				}
				if packet.Type(first>>4) == packet.PUBLISH {
					n++
				}
			}
			got.Add(n)
			done <- struct{}{}
		}()
	}
	pub, _ := dial("pub")
	defer pub.Close()
	payload := make([]byte, 64)
	var batch []byte
	const perBatch = 64
	for range perBatch {
		p := &packet.Publish{Topic: "bench/line3/power", Payload: payload, Properties: props}
		batch = p.AppendVersion(batch, version)
	}
	last := (&packet.Publish{Topic: "bench/line3/power", Payload: payload, Properties: props}).AppendVersion(nil, version)
	before := cpuTime()
	b.ResetTimer()
	sent := 0
	for sent+perBatch <= b.N {
		if _, err := pub.Write(batch); err != nil {
			b.Fatal(err)
		}
		sent += perBatch
	}
	for ; sent < b.N; sent++ {
		if _, err := pub.Write(last); err != nil {
			b.Fatal(err)
		}
	}
	timeout := time.After(time.Minute)
	for range subs {
		select {
		case <-done:
		case <-timeout:
			b.Fatalf("delivered %d of %d", got.Load(), want*int64(subs))
		}
	}
	b.StopTimer()
	cpu := cpuTime() - before
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*subs), "cpu-ns/msg")
	if dropped := br.Stats().Dropped; dropped != 0 {
		b.Fatalf("%d dropped", dropped)
	}
}

// cpuTime returns the user and system CPU time of the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru) // cannot fail with RUSAGE_SELF
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
