package modbusbench

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/gateway/drivers/modbus"
	"github.com/edgegw/gateway/drivers/modbus/frame"
	"github.com/edgegw/gateway/drivers/modbus/modbussim"
)

// device50 is a 50-point device shaped like an energy meter with a small
// PLC: 20 float32 measurements in input 0-39, 10 float32 totals in input
// 100-119, 10 int16 settings in holding 200-209, 5 uint32 counters in
// holding 220-229 and 5 coils.
func device50(maxGap int) modbus.Config {
	c := modbus.Default()
	c.Name, c.MaxGap = "meter", maxGap
	add := func(n int, reg, typ string, start, step int) {
		for i := range n {
			c.Points = append(c.Points, modbus.PointConfig{Name: fmt.Sprintf("%s-%s-%d", reg, typ, start+i*step),
				Register: reg, Address: start + i*step, Type: typ})
		}
	}
	add(20, "input", "float32", 0, 2)
	add(10, "input", "float32", 100, 2)
	add(10, "holding", "int16", 200, 1)
	add(5, "holding", "uint32", 220, 2)
	add(5, "coil", "bool", 0, 1)
	return c
}

// minRequests is the fewest read requests that cover cfg's points: per
// kind, a dynamic program over the address-sorted points splits them into
// runs whose gaps are at most maxGap and whose span fits one request.
func minRequests(cfg modbus.Config) int {
	type span struct{ start, end int }
	byKind := map[string][]span{}
	for _, p := range cfg.Points {
		typ, _ := modbus.ParseType(p.Type)
		n := max(typ.Registers(p.Length), 1)
		byKind[p.Register] = append(byKind[p.Register], span{p.Address, p.Address + n})
	}
	total := 0
	for kind, ss := range byKind {
		limit := frame.MaxReadRegisters
		if kind == "coil" || kind == "discrete" {
			limit = frame.MaxReadBits
		}
		slices.SortFunc(ss, func(a, b span) int { return a.start - b.start })
		best := make([]int, len(ss)+1)
		for i := 1; i <= len(ss); i++ {
			best[i] = 1 << 30
			end := 0
			for j := i - 1; j >= 0; j-- {
				end = max(end, ss[j].end)
				if j < i-1 && ss[j+1].start-ss[j].end > cfg.MaxGap {
					break
				}
				if end-ss[j].start > limit {
					break
				}
				best[i] = min(best[i], best[j]+1)
			}
		}
		total += best[len(ss)]
	}
	return total
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func serveSim(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- modbussim.New(discard()).Serve(ctx, ln) }()
	tb.Cleanup(func() { cancel(); <-done })
	return ln.Addr().String()
}

// TestRequestsAndWire reports requests, bytes and wire time per poll, and
// checks that the driver needs no more requests than the minimum.
func TestRequestsAndWire(t *testing.T) {
	addr := serveSim(t)
	t.Logf("| max_gap | requests/poll | minimum | RTU bytes/poll | wire time 9600 8E1 | wire time 19200 8E1 | TCP bytes/poll |")
	t.Logf("|---|---|---|---|---|---|---|")
	for _, gap := range []int{0, 10, 60} {
		cfg := device50(gap)
		cfg.Driver, cfg.Address = modbus.DriverTCP, addr
		devs, err := modbus.New([]modbus.Config{cfg}, discard())
		if err != nil {
			t.Fatal(err)
		}
		d := devs[0]
		if got, want := d.Requests(), minRequests(cfg); got != want {
			t.Errorf("max_gap %d: %d requests per poll, minimum %d", gap, got, want)
		}
		before := d.Client().Transport().Stats()
		if _, err := d.Poll(t.Context()); err != nil {
			t.Fatal(err)
		}
		after := d.Client().Transport().Stats()
		_ = d.Close() // in-process simulator; nothing to report
		reqs := int(after.Requests - before.Requests)
		tcp := int(after.TxBytes + after.RxBytes - before.TxBytes - before.RxBytes)
		// An RTU frame carries the same PDU as a TCP frame with 3 bytes of
		// address + CRC instead of the 7-byte MBAP header.
		rtu := tcp - 2*reqs*(frame.MBAPHeaderLen-3)
		t.Logf("| %d | %d | %d | %d | %v | %v | %d |", gap, reqs, minRequests(cfg), rtu,
			wire(rtu, reqs, 9600), wire(rtu, reqs, 19200), tcp)
	}
	// Without coalescing: one request per point.
	naive, reqs := 0, 0
	for _, p := range device50(0).Points {
		typ, _ := modbus.ParseType(p.Type)
		n := typ.Registers(0)
		reqs++
		if p.Register == "coil" {
			naive += 8 + 6 // request + response with 1 data byte
			continue
		}
		naive += 8 + 5 + 2*n
	}
	t.Logf("| one request per point | %d | - | %d | %v | %v | - |", reqs, naive, wire(naive, reqs, 9600), wire(naive, reqs, 19200))
}

// wire is the line time of n bytes in reqs transactions (two frames each)
// at baud with 11-bit characters (8E1), plus 3.5 characters of silence
// before every frame (Serial 2.5.1.1); slave turnaround is not included.
func wire(n, reqs, baud int) time.Duration {
	return (frame.WireTime(n, baud, 11) + time.Duration(2*reqs)*frame.InterFrameDelay(baud)).Round(100 * time.Microsecond)
}

// startPymodbus runs the drivers' pymodbus test server and returns its address.
func startPymodbus(tb testing.TB) string {
	tb.Helper()
	script, _ := filepath.Abs("../../drivers/modbus/testdata/pymodbus_server.py")
	cmd := exec.Command("/usr/bin/python3", script, "tcp")
	in, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Skipf("pymodbus: %v", err)
	}
	tb.Cleanup(func() {
		_ = in.Close() // the server exits on EOF
		_ = cmd.Wait() // its exit status does not matter
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	f := strings.Fields(line)
	if err != nil || len(f) != 2 || f[0] != "READY" {
		tb.Skipf("pymodbus not ready: %q %v", line, err)
	}
	return "127.0.0.1:" + f[1]
}

func benchPoll(b *testing.B, addr string) {
	cfg := device50(10)
	cfg.Driver, cfg.Address = modbus.DriverTCP, addr
	devs, err := modbus.New([]modbus.Config{cfg}, discard())
	if err != nil {
		b.Fatal(err)
	}
	d := devs[0]
	b.Cleanup(func() { _ = d.Close() }) // benchmark teardown
	ctx := b.Context()
	for b.Loop() {
		if _, err := d.Poll(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(d.Requests()), "requests/poll")
}

// BenchmarkPollTCPPymodbus is the poll cycle of the 50-point device against
// pymodbus over loopback TCP.
func BenchmarkPollTCPPymodbus(b *testing.B) { benchPoll(b, startPymodbus(b)) }

// BenchmarkPollTCPSimulator is the same against the in-process simulator.
func BenchmarkPollTCPSimulator(b *testing.B) { benchPoll(b, serveSim(b)) }

// BenchmarkDecode50 is decoding alone: one poll's worth of codecs.
func BenchmarkDecode50(b *testing.B) {
	codecs := make([]modbus.Codec, 0, 50)
	for _, p := range device50(10).Points {
		if p.Register == "coil" {
			continue
		}
		typ, _ := modbus.ParseType(p.Type)
		c, err := modbus.NewCodec(typ, modbus.CDAB, 0, 0, 0.1, 0)
		if err != nil {
			b.Fatal(err)
		}
		codecs = append(codecs, c)
	}
	raw := make([]byte, 8)
	for b.Loop() {
		for _, c := range codecs {
			_ = c.Decode(raw[:2*c.Registers])
		}
	}
}
