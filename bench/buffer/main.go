// Command buffer benchmarks the store-and-forward path against loopback
// mosquitto: durable ingest (msg/s committed), drain of a backlog after an
// outage compared with mosquitto's own bridge (mosquitto -> mosquitto, same
// messages, same proxy), and bytes written to disk in steady online state.
//
//	go run ./bench/buffer -n 100000 -steady 60s
package main

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgegw/gateway"
	"github.com/edgegw/gateway/buffer"
	"github.com/edgegw/gateway/internal/tcpproxy"
	"github.com/edgegw/gateway/upstream"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type options struct {
	n              int
	publishers     int
	inflight       int
	topics         int
	runs           int
	bridgeInflight int
	flush          time.Duration
	steady         time.Duration
	points         int
	dir            string
	rtt            time.Duration
	bridgeDefaults bool
	protocol       int
	// upstreamNodelay sets TCP_NODELAY on the upstream broker's sockets
	// (mosquitto's set_tcp_nodelay).
	upstreamNodelay bool
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.IntVar(&o.n, "n", 100000, "messages in the backlog")
	fs.IntVar(&o.publishers, "publishers", 1000, "concurrent publishers during ingest")
	fs.IntVar(&o.inflight, "inflight", 100, "in-flight window (ours and mosquitto's max_inflight_messages)")
	fs.IntVar(&o.bridgeInflight, "bridge-inflight", 0, "mosquitto bridge max_inflight_messages (0: same as -inflight)")
	fs.IntVar(&o.topics, "topics", 50, "topics")
	fs.IntVar(&o.runs, "runs", 3, "rounds of ingest + drain for each (the median is reported)")
	fs.DurationVar(&o.steady, "steady", 60*time.Second, "steady-state run (0: skip)")
	fs.IntVar(&o.points, "points", 50, "points at 1 Hz in the steady-state run")
	fs.DurationVar(&o.flush, "flush", 0, "buffer flush_interval (0: the default)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to `FILE`")
	fs.StringVar(&o.dir, "dir", "", "work directory (default: a temporary one on the system disk)")
	fs.DurationVar(&o.rtt, "rtt", 0, "round-trip time the proxy adds between the gateway (or bridge) and the upstream broker")
	fs.IntVar(&o.protocol, "protocol", 4, "our uplink's MQTT protocol version: 4 (3.1.1) or 5 (5.0); the bridge speaks 3.1.1")
	fs.BoolVar(&o.upstreamNodelay, "upstream-nodelay", false, "the upstream broker disables Nagle's algorithm (mosquitto's set_tcp_nodelay true)")
	fs.BoolVar(&o.bridgeDefaults, "bridge-defaults", false, "also run mosquitto's bridge at its default settings (max_inflight_messages 20, restart_timeout 5..30)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if o.bridgeInflight == 0 {
		o.bridgeInflight = o.inflight
	}
	if o.dir == "" {
		d, err := os.MkdirTemp("", "bench-buffer-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		o.dir = d
	}
	b := &bench{o: o, stderr: stderr}
	defer b.cleanup()

	var oursRuns, bridgeRuns, defaultRuns []drainResult
	if o.runs > 0 {
		oursRound, err := b.ours(ctx)
		if err != nil {
			return fmt.Errorf("ours: %w", err)
		}
		bridgeRound, err := b.mosquittoBridge(ctx, "bridge", o.bridgeInflight)
		if err != nil {
			return fmt.Errorf("mosquitto bridge: %w", err)
		}
		var defaultRound func(context.Context) (drainResult, error)
		if o.bridgeDefaults {
			if defaultRound, err = b.mosquittoBridge(ctx, "bridge-defaults", 0); err != nil {
				return fmt.Errorf("mosquitto bridge at defaults: %w", err)
			}
		}
		for i := range o.runs {
			b.logf("round %d of %d", i+1, o.runs)
			r, err := oursRound(ctx)
			if err != nil {
				return fmt.Errorf("ours: %w", err)
			}
			oursRuns = append(oursRuns, r)
			if r, err = bridgeRound(ctx); err != nil {
				return fmt.Errorf("mosquitto bridge: %w", err)
			}
			bridgeRuns = append(bridgeRuns, r)
			if defaultRound != nil {
				if r, err = defaultRound(ctx); err != nil {
					return fmt.Errorf("mosquitto bridge at defaults: %w", err)
				}
				defaultRuns = append(defaultRuns, r)
			}
		}
	}
	var steady steadyResult
	if o.steady > 0 {
		var err error
		if steady, err = b.steadyState(ctx); err != nil {
			return fmt.Errorf("steady state: %w", err)
		}
	}
	fmt.Fprintf(stdout, "| measurement | result | target |\n|---|---|---|\n")
	if o.runs > 0 {
		ours, theirs := median(oursRuns), median(bridgeRuns)
		fmt.Fprintf(stdout, "| durable ingest, %d publishers, uplink down | %.0f msg/s (%d msgs in %s, %d commits) | >= 50000 msg/s |\n",
			o.publishers, ours.ingestRate, o.n, ours.ingest.Round(time.Millisecond), ours.commits)
		fmt.Fprintf(stdout, "| drain %d buffered, ours (inflight %d) | %.0f msg/s (first to last %s; %s after uplink restored) | >= 20000 msg/s |\n",
			o.n, o.inflight, ours.drainRate, ours.drain.Round(time.Millisecond), ours.total.Round(time.Millisecond))
		fmt.Fprintf(stdout, "| drain %d queued, mosquitto bridge (max_inflight %d, in RAM) | %.0f msg/s (first to last %s; %s after uplink restored) | |\n",
			o.n, o.bridgeInflight, theirs.drainRate, theirs.drain.Round(time.Millisecond), theirs.total.Round(time.Millisecond))
		fmt.Fprintf(stdout, "| drain ratio ours / mosquitto bridge, equal windows (medians) | %.2fx | >= 1.0x |\n", ours.drainRate/theirs.drainRate)
		oe, be := medianCPU(oursRuns, func(r drainResult) time.Duration { return r.edgeCPU }), medianCPU(bridgeRuns, func(r drainResult) time.Duration { return r.edgeCPU })
		fmt.Fprintf(stdout, "| edge-side CPU per drained message, ours / mosquitto bridge (medians; this process, which holds the proxy and the counter's reader, plus broker A for the bridge) | %.1f µs / %.1f µs = %.2fx | |\n",
			perMsg(oe, o.n), perMsg(be, o.n), float64(oe)/float64(be))
		ou, bu := medianCPU(oursRuns, func(r drainResult) time.Duration { return r.upstreamCPU }), medianCPU(bridgeRuns, func(r drainResult) time.Duration { return r.upstreamCPU })
		fmt.Fprintf(stdout, "| upstream broker CPU per drained message, ours / mosquitto bridge (medians) | %.1f µs / %.1f µs = %.2fx | |\n",
			perMsg(ou, o.n), perMsg(bu, o.n), float64(ou)/float64(bu))
		if len(defaultRuns) > 0 {
			def := median(defaultRuns)
			fmt.Fprintf(stdout, "| drain %d queued, mosquitto bridge at its defaults (max_inflight 20, restart_timeout 5..30) | %.0f msg/s (first to last %s; %s after uplink restored) | |\n",
				o.n, def.drainRate, def.drain.Round(time.Millisecond), def.total.Round(time.Millisecond))
			fmt.Fprintf(stdout, "| drain ratio ours (defaults) / mosquitto bridge (defaults) | %.2fx | |\n", ours.drainRate/def.drainRate)
		}
		if o.rtt > 0 {
			limit := float64(o.inflight) / o.rtt.Seconds()
			fmt.Fprintf(stdout, "| limit window / RTT (%d / %s) | %.0f msg/s | |\n", o.inflight, o.rtt, limit)
			fmt.Fprintf(stdout, "| ours / limit | %.2fx | >= 0.9x |\n", ours.drainRate/limit)
			measured := float64(o.inflight) / b.measuredRTT.Seconds()
			fmt.Fprintf(stdout, "| limit window / measured RTT (%d / %s: one QoS 1 PUBLISH to PUBACK through the proxy) | %.0f msg/s | |\n",
				o.inflight, b.measuredRTT.Round(10*time.Microsecond), measured)
			fmt.Fprintf(stdout, "| ours / measured limit | %.2fx | |\n", ours.drainRate/measured)
		}
		fmt.Fprintf(stdout, "| messages lost (ours; bridge) | %d; %d | 0 |\n", lost(oursRuns), lost(bridgeRuns)+lost(defaultRuns))
	}
	if o.steady > 0 {
		flush := o.flush
		if flush == 0 {
			flush = buffer.Default("").FlushInterval
		}
		fmt.Fprintf(stdout, "| disk writes, steady online, %d points x 1 Hz, flush_interval %s | %.0f KB/hour (%d bytes in %s, %d commits) | <= 1 MB/hour |\n",
			o.points, flush, steady.perHour/1024, steady.bytes, o.steady, steady.commits)
	}
	if o.runs > 0 {
		fmt.Fprintf(stdout, "\nDrain rates of the %d rounds: ours %s; mosquitto bridge %s msg/s.\n", o.runs, rates(oursRuns), rates(bridgeRuns))
		fmt.Fprintf(stdout, "Edge-side CPU per message (µs): ours %s; mosquitto bridge %s. Upstream broker: ours %s; bridge %s.\n",
			cpus(oursRuns, o.n, false), cpus(bridgeRuns, o.n, false), cpus(oursRuns, o.n, true), cpus(bridgeRuns, o.n, true))
		if len(defaultRuns) > 0 {
			fmt.Fprintf(stdout, "Mosquitto bridge at its defaults: %s msg/s.\n", rates(defaultRuns))
		}
	}
	return nil
}

type bench struct {
	o           options
	measuredRTT time.Duration // through the delay proxy, PUBLISH to PUBACK
	stderr      io.Writer
	cleanups    []func()
}

func (b *bench) cleanup() {
	for i := len(b.cleanups) - 1; i >= 0; i-- {
		b.cleanups[i]()
	}
}

func (b *bench) logf(format string, a ...any) { fmt.Fprintf(b.stderr, format+"\n", a...) }

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startMosquitto starts mosquitto with conf (listener lines included) and
// waits until port accepts connections.
func (b *bench) startMosquitto(name string, port int, conf string) (pid int, err error) {
	path := filepath.Join(b.o.dir, name+".conf")
	conf = "user root\npersistence false\nlog_dest stderr\nlog_type error\nallow_anonymous true\nmax_queued_messages 0\n" +
		fmt.Sprintf("listener %d 127.0.0.1\n", port) + conf
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		return 0, err
	}
	bin := "mosquitto"
	if _, err := exec.LookPath(bin); err != nil {
		bin = "/usr/sbin/mosquitto"
	}
	cmd := exec.Command(bin, "-c", path)
	cmd.Stderr = b.stderr
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	b.cleanups = append(b.cleanups, func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err == nil {
			return cmd.Process.Pid, c.Close()
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%s not listening: %w", name, err)
		}
		time.Sleep(20 * time.Millisecond) // waiting for the listener
	}
}

// counter is a mosquitto_sub process on the upstream broker (outside this
// process, so both drains pay the same for being counted) that timestamps
// the first and the target-th message.
type counter struct {
	warm        atomic.Bool // a warm-up or probe message arrived
	n           atomic.Int64
	target      atomic.Int64
	first, last atomic.Int64 // unix nanoseconds, from mosquitto_sub's %U
	mu          sync.Mutex
	done        chan struct{}
}

// subscribeCounter starts mosquitto_sub on port for filter and waits until it
// receives (probes published to the broker directly).
func (b *bench) subscribeCounter(ctx context.Context, port int, filter string) (*counter, error) {
	args := []string{"mosquitto_sub", "-h", "127.0.0.1", "-p", strconv.Itoa(port), "-q", "1", "-t", filter, "-F", "%U %t"}
	if _, err := exec.LookPath("stdbuf"); err == nil {
		args = append([]string{"stdbuf", "-oL"}, args...) // a line as soon as it is received
	}
	cmd := exec.Command(args[0], args[1:]...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = b.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("mosquitto_sub: %w", err)
	}
	b.cleanups = append(b.cleanups, func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	c := &counter{done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			ts, topic, _ := strings.Cut(sc.Text(), " ")
			if strings.HasSuffix(topic, "/warmup") || strings.HasSuffix(topic, "/probe") {
				c.warm.Store(true)
				continue
			}
			sec, frac, _ := strings.Cut(ts, ".")
			s, _ := strconv.ParseInt(sec, 10, 64)   // mosquitto_sub's own format
			ns, _ := strconv.ParseInt(frac, 10, 64) // nine digits
			now := s*1e9 + ns
			n := c.n.Add(1)
			if n == 1 {
				c.first.Store(now)
			}
			if t := c.target.Load(); t > 0 && n == t {
				c.last.Store(now)
				c.mu.Lock()
				close(c.done)
				c.mu.Unlock()
			}
		}
	}()
	probe := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(fmt.Sprintf("mqtt://127.0.0.1:%d", port)).SetClientID("probe"))
	if tok := probe.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		return nil, fmt.Errorf("probe connect: %v", tok.Error())
	}
	defer probe.Disconnect(0)
	err = waitFor(ctx, func() bool {
		probe.Publish("edge/probe", 1, false, "x").Wait()
		return c.warm.Load()
	})
	c.warm.Store(false)
	return c, err
}

// reset starts counting towards target.
func (c *counter) reset(target int) {
	c.mu.Lock()
	c.done = make(chan struct{})
	c.mu.Unlock()
	c.n.Store(0)
	c.target.Store(int64(target))
}

func (c *counter) wait(ctx context.Context, timeout time.Duration) error {
	c.mu.Lock()
	done := c.done
	c.mu.Unlock()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(timeout):
		return fmt.Errorf("received %d of %d", c.n.Load(), c.target.Load())
	}
}

func payload(i int) []byte {
	return fmt.Appendf(nil, `{"v":%d.%03d,"q":"good","t":%d}`, i%1000, i%997, 1700000000000+int64(i))
}

type drainResult struct {
	ingest     time.Duration
	ingestRate float64
	commits    int64
	drain      time.Duration // first to last message at the upstream subscriber
	total      time.Duration // uplink restored to last message
	drainRate  float64
	lost       int // messages that never reached the upstream subscriber
	// CPU time from the link's restoring to the drain's end: on the edge
	// side (this process, which holds the proxy and the counter's reader
	// in both products' rounds, plus broker A in the bridge's) and of the
	// upstream broker B.
	edgeCPU, upstreamCPU time.Duration
}

func lost(rs []drainResult) int {
	n := 0
	for _, r := range rs {
		n += r.lost
	}
	return n
}

// upstreamBroker starts broker B with a counting subscriber and a proxy to
// it; pid is B's process.
func (b *bench) upstreamBroker(name string) (cnt *counter, p *tcpproxy.Proxy, pid int, err error) {
	port, err := freePort()
	if err != nil {
		return nil, nil, 0, err
	}
	conf := "max_inflight_messages 0\n"
	if b.o.upstreamNodelay {
		conf += "set_tcp_nodelay true\n"
	}
	if pid, err = b.startMosquitto(name, port, conf); err != nil {
		return nil, nil, 0, err
	}
	if cnt, err = b.subscribeCounter(context.Background(), port, "edge/#"); err != nil {
		return nil, nil, 0, err
	}
	if p, err = tcpproxy.Start(fmt.Sprintf("127.0.0.1:%d", port), b.o.rtt/2); err != nil {
		return nil, nil, 0, err
	}
	b.cleanups = append(b.cleanups, func() { _ = p.Close() }) // the bench is over
	return cnt, p, pid, nil
}

// cpuMeter reads the CPU time used so far by this process (the proxy, the
// counter's reader and, in our rounds, the gateway side) and by the given
// child processes.
type cpuMeter struct {
	pids []int // [0]: the upstream broker B; [1]: the edge broker A, if any
}

// cpuSample is CPU time used so far: self is this process, pids as in the
// meter.
type cpuSample struct {
	self time.Duration
	pids []time.Duration
}

func (m cpuMeter) sample() (cpuSample, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return cpuSample{}, err
	}
	s := cpuSample{self: time.Duration(ru.Utime.Nano() + ru.Stime.Nano())}
	for _, pid := range m.pids {
		d, err := procCPU(pid)
		if err != nil {
			return cpuSample{}, err
		}
		s.pids = append(s.pids, d)
	}
	return s, nil
}

// procCPU is the user plus system time of process pid (/proc/PID/stat,
// fields 14 and 15, in clock ticks of 10 ms: Linux's USER_HZ is 100).
func procCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	i := strings.LastIndexByte(string(data), ')')
	f := strings.Fields(string(data[i+1:])) // f[0] is field 3
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

// usage fills r's CPU figures from the samples taken when the link was
// restored and when the drain was over.
func (r *drainResult) usage(before, after cpuSample) {
	r.edgeCPU = after.self - before.self
	if len(after.pids) > 1 { // mosquitto's bridge: broker A is the edge side
		r.edgeCPU += after.pids[1] - before.pids[1]
	}
	r.upstreamCPU = after.pids[0] - before.pids[0]
}

// ours: buffer + forwarder connected through the proxy; cut the link,
// ingest n messages durably, restore the link, time the drain.
// ours sets up buffer + forwarder connected through the proxy and returns
// one round: cut the link, ingest n messages durably, restore the link,
// time the drain.
func (b *bench) ours(ctx context.Context) (func(context.Context) (drainResult, error), error) {
	cnt, p, pidB, err := b.upstreamBroker("upstream-ours")
	if err != nil {
		return nil, err
	}
	if b.o.rtt > 0 {
		if b.measuredRTT, err = measureRTT("mqtt://" + p.Addr()); err != nil {
			return nil, fmt.Errorf("measure the round trip: %w", err)
		}
		b.logf("round trip through the proxy: %s (median of 21 QoS 1 publishes)", b.measuredRTT)
	}
	log := slog.New(slog.NewTextHandler(b.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	buf, err := buffer.Open(ctx, buffer.Default(filepath.Join(b.o.dir, "buffer.db")), log)
	if err != nil {
		return nil, err
	}
	cfg := upstream.Default()
	cfg.ProtocolVersion = b.o.protocol
	if cfg.ProtocolVersion == 5 {
		cfg.TopicAliases = upstream.DefaultTopicAliases // as a config file without topic_aliases gives
	}
	cfg.URL = "mqtt://" + p.Addr()
	cfg.ClientID = "bench-gw"
	cfg.Inflight = b.o.inflight
	cfg.ReconnectMin, cfg.ReconnectMax = time.Second, time.Second // as mosquitto's restart_timeout 1
	cfg.Forward = []upstream.ForwardRule{{Filter: "site/#", RemotePrefix: "edge/gw1"}}
	fwd, err := upstream.New(cfg, buf, nil, log)
	if err != nil {
		return nil, err
	}
	fctx, cancel := context.WithCancel(ctx)
	stopped := make(chan struct{})
	go func() { _ = fwd.Run(fctx); close(stopped) }() // nil on cancel
	b.cleanups = append(b.cleanups, func() { cancel(); <-stopped; _ = buf.Close() })
	sink := upstream.Filter(cfg.Forward, buf)
	meter := cpuMeter{pids: []int{pidB}}
	return func(ctx context.Context) (drainResult, error) {
		var r drainResult
		if err := waitFor(ctx, func() bool { return fwd.Status().State == "up" }); err != nil {
			return r, err
		}
		p.Cut()
		if err := waitFor(ctx, func() bool { return fwd.Status().State == "down" }); err != nil {
			return r, err
		}
		b.logf("ours: uplink down, ingesting %d messages with %d publishers", b.o.n, b.o.publishers)
		before, _ := buf.Stats(ctx) // only the commit counter
		start := time.Now()
		var next atomic.Int64
		var wg sync.WaitGroup
		var perr atomic.Value
		for range b.o.publishers {
			wg.Go(func() {
				for {
					i := int(next.Add(1)) - 1
					if i >= b.o.n {
						return
					}
					m := gateway.Message{Topic: fmt.Sprintf("site/dev%02d/value", i%b.o.topics), Payload: payload(i), QoS: 1}
					if err := sink.Publish(ctx, m); err != nil {
						perr.Store(err)
						return
					}
				}
			})
		}
		wg.Wait()
		if err, _ := perr.Load().(error); err != nil {
			return r, err
		}
		r.ingest = time.Since(start)
		r.ingestRate = float64(b.o.n) / r.ingest.Seconds()
		after, _ := buf.Stats(ctx) // only the commit counter
		r.commits = after.Commits - before.Commits
		b.logf("ours: ingest %.0f msg/s; restoring the uplink", r.ingestRate)
		cnt.reset(b.o.n)
		cpu0, err := meter.sample()
		if err != nil {
			return r, err
		}
		restored := time.Now()
		p.Restore()
		if err := cnt.wait(ctx, 10*time.Minute); err != nil {
			return r, err
		}
		r.drain = time.Duration(cnt.last.Load() - cnt.first.Load())
		r.total = time.Unix(0, cnt.last.Load()).Sub(restored)
		r.drainRate = float64(b.o.n) / r.drain.Seconds()
		if err := waitFor(ctx, func() bool { s, _ := buf.Stats(ctx); return s.Depth == 0 }); err != nil {
			return r, err
		}
		cpu1, err := meter.sample()
		if err != nil {
			return r, err
		}
		r.usage(cpu0, cpu1)
		r.lost = b.o.n - int(cnt.n.Load())
		b.logf("ours: drained %d in %s (%.0f msg/s), buffer empty", b.o.n, r.drain, r.drainRate)
		return r, nil
	}, nil
}

// mosquittoBridge: broker A bridging edge/# to B through the proxy; cut the
// link, publish n messages to A at QoS 1, restore the link, time the drain.
// inflight 0: mosquitto's defaults (max_inflight_messages 20, restart_timeout
// 5 30).
func (b *bench) mosquittoBridge(ctx context.Context, name string, inflight int) (func(context.Context) (drainResult, error), error) {
	cnt, p, pidB, err := b.upstreamBroker("upstream-" + name)
	if err != nil {
		return nil, err
	}
	portA, err := freePort()
	if err != nil {
		return nil, err
	}
	conf := fmt.Sprintf(`max_inflight_messages %d
connection bench
address %s
topic edge/# out 1
cleansession false
restart_timeout 1
try_private false
notifications false
bridge_protocol_version mqttv311
`, inflight, p.Addr())
	if inflight == 0 {
		conf = fmt.Sprintf(`connection bench
address %s
topic edge/# out 1
cleansession false
try_private false
notifications false
bridge_protocol_version mqttv311
`, p.Addr())
	}
	pidA, err := b.startMosquitto("local-"+name, portA, conf)
	if err != nil {
		return nil, err
	}
	meter := cpuMeter{pids: []int{pidB, pidA}}
	urlA := fmt.Sprintf("mqtt://127.0.0.1:%d", portA)
	pub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(urlA).SetClientID("bench-pub").SetAutoReconnect(false))
	if tok := pub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		return nil, fmt.Errorf("publisher connect: %v", tok.Error())
	}
	b.cleanups = append(b.cleanups, func() { pub.Disconnect(0) })
	return func(ctx context.Context) (drainResult, error) {
		var r drainResult
		cnt.warm.Store(false)
		// Wait until the bridge is connected: a warm-up message reaches B.
		err = waitFor(ctx, func() bool {
			pub.Publish("edge/gw1/warmup", 1, false, "x").Wait()
			return cnt.warm.Load()
		})
		if err != nil {
			return r, err
		}
		p.Cut()
		time.Sleep(200 * time.Millisecond) // let A notice the cut before queueing
		b.logf("%s: link down, publishing %d messages to mosquitto A", name, b.o.n)
		window := make(chan mqtt.Token, 1000)
		errc := make(chan error, 1)
		go func() {
			for tok := range window {
				if tok.Wait(); tok.Error() != nil {
					select {
					case errc <- tok.Error():
					default:
					}
				}
			}
			close(errc)
		}()
		for i := range b.o.n {
			window <- pub.Publish(fmt.Sprintf("edge/gw1/site/dev%02d/value", i%b.o.topics), 1, false, payload(i))
		}
		close(window)
		if err := <-errc; err != nil {
			return r, err
		}
		b.logf("%s: restoring the link", name)
		cnt.reset(b.o.n)
		cpu0, err := meter.sample()
		if err != nil {
			return r, err
		}
		restored := time.Now()
		p.Restore()
		if err := cnt.wait(ctx, 10*time.Minute); err != nil {
			return r, err
		}
		cpu1, err := meter.sample()
		if err != nil {
			return r, err
		}
		r.usage(cpu0, cpu1)
		r.drain = time.Duration(cnt.last.Load() - cnt.first.Load())
		r.total = time.Unix(0, cnt.last.Load()).Sub(restored)
		r.drainRate = float64(b.o.n) / r.drain.Seconds()
		r.lost = b.o.n - int(cnt.n.Load())
		b.logf("%s: drained %d in %s (%.0f msg/s)", name, b.o.n, r.drain, r.drainRate)
		return r, nil
	}, nil
}

// median returns the round with the median drain rate, with the median
// ingest rate.
func median(rs []drainResult) drainResult {
	byDrain := slices.Clone(rs)
	slices.SortFunc(byDrain, func(a, b drainResult) int { return cmp.Compare(a.drainRate, b.drainRate) })
	byIngest := slices.Clone(rs)
	slices.SortFunc(byIngest, func(a, b drainResult) int { return cmp.Compare(a.ingestRate, b.ingestRate) })
	m := byDrain[len(rs)/2]
	i := byIngest[len(rs)/2]
	m.ingest, m.ingestRate, m.commits = i.ingest, i.ingestRate, i.commits
	return m
}

// medianCPU is the median of one CPU figure of the rounds.
func medianCPU(rs []drainResult, of func(drainResult) time.Duration) time.Duration {
	var ds []time.Duration
	for _, r := range rs {
		ds = append(ds, of(r))
	}
	slices.Sort(ds)
	return ds[len(ds)/2]
}

func perMsg(d time.Duration, n int) float64 { return float64(d.Microseconds()) / float64(n) }

// cpus lists the rounds' CPU per message: the upstream broker's or the
// edge side's.
func cpus(rs []drainResult, n int, upstream bool) string {
	var s []string
	for _, r := range rs {
		d := r.edgeCPU
		if upstream {
			d = r.upstreamCPU
		}
		s = append(s, fmt.Sprintf("%.1f", perMsg(d, n)))
	}
	return strings.Join(s, ", ")
}

func rates(rs []drainResult) string {
	var s []string
	for _, r := range rs {
		s = append(s, fmt.Sprintf("%.0f", r.drainRate))
	}
	return strings.Join(s, ", ")
}

type steadyResult struct {
	bytes   int64
	commits int64
	perHour float64
}

// steadyState publishes points x 1 Hz through buffer and forwarder to a
// directly connected upstream and counts the bytes this process wrote to disk.
func (b *bench) steadyState(ctx context.Context) (steadyResult, error) {
	var r steadyResult
	port, err := freePort()
	if err != nil {
		return r, err
	}
	if _, err := b.startMosquitto("upstream-steady", port, ""); err != nil {
		return r, err
	}
	log := slog.New(slog.NewTextHandler(b.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	bcfg := buffer.Default(filepath.Join(b.o.dir, "steady.db"))
	if b.o.flush > 0 {
		bcfg.FlushInterval = b.o.flush
	}
	buf, err := buffer.Open(ctx, bcfg, log)
	if err != nil {
		return r, err
	}
	defer buf.Close()
	cfg := upstream.Default()
	cfg.ProtocolVersion = b.o.protocol
	if cfg.ProtocolVersion == 5 {
		cfg.TopicAliases = upstream.DefaultTopicAliases // as a config file without topic_aliases gives
	}
	cfg.URL = fmt.Sprintf("mqtt://127.0.0.1:%d", port)
	cfg.Forward = []upstream.ForwardRule{{Filter: "site/#", RemotePrefix: "edge/gw1"}}
	fwd, err := upstream.New(cfg, buf, nil, log)
	if err != nil {
		return r, err
	}
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go fwd.Run(fctx) //nolint:errcheck // returns nil on cancel
	if err := waitFor(ctx, func() bool { return fwd.Status().State == "up" }); err != nil {
		return r, err
	}
	sink := upstream.Filter(cfg.Forward, buf)
	b.logf("steady: %d points x 1 Hz for %s", b.o.points, b.o.steady)
	w0, err := writeBytes()
	if err != nil {
		return r, err
	}
	s0, _ := buf.Stats(ctx) // only the commit counter
	sctx, scancel := context.WithTimeout(ctx, b.o.steady)
	defer scancel()
	var wg sync.WaitGroup
	for pt := range b.o.points {
		wg.Go(func() {
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-sctx.Done():
					return
				case <-tick.C:
				}
				m := gateway.Message{Topic: fmt.Sprintf("site/dev%02d/value", pt), Payload: payload(i), QoS: 1, Time: time.Now()}
				if err := sink.Publish(sctx, m); err != nil && sctx.Err() == nil {
					b.logf("steady publish: %v", err)
				}
			}
		})
	}
	wg.Wait()
	w1, err := writeBytes()
	if err != nil {
		return r, err
	}
	s1, _ := buf.Stats(ctx) // only the commit counter
	r.bytes = w1 - w0
	r.commits = s1.Commits - s0.Commits
	r.perHour = float64(r.bytes) * float64(time.Hour) / float64(b.o.steady)
	return r, nil
}

// writeBytes reads the bytes this process caused to be written to storage.
func writeBytes() (int64, error) {
	data, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "write_bytes: "); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, errors.New("/proc/self/io: no write_bytes")
}

func waitFor(ctx context.Context, cond func() bool) error {
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			return errors.New("timeout waiting for a condition")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// measureRTT returns the median time of 21 sequential QoS 1 publishes (PUBLISH
// to PUBACK) through url: the round trip a window has to cover, proxy and
// scheduling included.
func measureRTT(url string) (time.Duration, error) {
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID("bench-rtt").SetProtocolVersion(4))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		return 0, fmt.Errorf("connect: %v", tok.Error())
	}
	defer c.Disconnect(0)
	var ds []time.Duration
	for range 21 {
		start := time.Now()
		if tok := c.Publish("rtt/probe", 1, false, "x"); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			return 0, fmt.Errorf("publish: %v", tok.Error())
		}
		ds = append(ds, time.Since(start))
	}
	slices.Sort(ds)
	return ds[len(ds)/2], nil
}
