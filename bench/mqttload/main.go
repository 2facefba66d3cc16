// Command mqttload is a small MQTT load generator on paho: N publishers send
// payloads stamped with their send time to M subscribers; it reports the
// delivered messages per second, latency percentiles and missing messages.
// With -idle it instead holds idle connections open and reports the
// broker's resident memory per connection.
//
// Every target given with -target runs the same scenario in turn, and one
// Markdown table row compares them (ratio = first target / second).
//
//	mqttload -target edgegw=tcp://127.0.0.1:1883 -target mosquitto=tcp://127.0.0.1:1884 \
//	    -pubs 4 -subs 1 -n 20000 -qos 0
package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "mqttload:", err)
		os.Exit(1)
	}
}

type targetList []target

type target struct{ name, url string }

func (l *targetList) String() string { return fmt.Sprint(*l) }

func (l *targetList) Set(s string) error {
	name, url, ok := strings.Cut(s, "=")
	if !ok {
		return errors.New("want name=url")
	}
	*l = append(*l, target{name, url})
	return nil
}

type params struct {
	label  string
	pubs   int
	subs   int
	n      int // messages per publisher
	qos    byte
	size   int
	rate   float64 // messages/s per publisher; 0 = as fast as possible
	window int     // unacknowledged QoS 1/2 publishes per publisher
	drain  time.Duration
	idle   int
	pids   map[string]int
	settle time.Duration
	props  bool // MQTT 5.0 targets: user properties and a message expiry on each message
	repeat int  // runs of the targets in turn; the row has the medians
	warmup bool // one unmeasured run of each target first
	// stop are the pids of processes (a slow subscriber such as
	// mosquitto_sub) to stop with SIGSTOP stopAt after the publishers
	// start, for stopFor, during each target's run.
	stop            map[string]int
	stopAt, stopFor time.Duration
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("mqttload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var targets targetList
	var p params
	var qos uint
	var pids, stop string
	fs.Var(&targets, "target", "name=url of a broker (repeat; tcp://host:port)")
	fs.StringVar(&p.label, "label", "", "scenario label for the result row")
	fs.IntVar(&p.pubs, "pubs", 1, "publishers")
	fs.IntVar(&p.subs, "subs", 1, "subscribers (each subscribes to every publisher's topic)")
	fs.IntVar(&p.n, "n", 10000, "messages per publisher")
	fs.UintVar(&qos, "qos", 0, "QoS of publishes and subscriptions")
	fs.IntVar(&p.size, "size", 64, "payload bytes (at least 16)")
	fs.Float64Var(&p.rate, "rate", 0, "messages per second per publisher (0: unthrottled)")
	fs.IntVar(&p.window, "window", 64, "unacknowledged QoS 1/2 publishes per publisher")
	fs.DurationVar(&p.drain, "drain", 3*time.Second, "after the last publish, wait for stragglers until none arrived for this long (the rest count as lost)")
	fs.IntVar(&p.idle, "idle", 0, "idle mode: open this many idle connections and report RSS per connection")
	fs.StringVar(&pids, "pids", "", "name=pid,... of the broker processes (CPU time; RSS in idle mode)")
	fs.DurationVar(&p.settle, "settle", 2*time.Second, "idle mode: wait before reading RSS")
	fs.BoolVar(&p.props, "props", false, "mqtt5:// targets: two user properties and a message expiry interval on every message")
	fs.IntVar(&p.repeat, "repeat", 1, "run the targets in turn this many times; the row has the median of each column")
	fs.BoolVar(&p.warmup, "warmup", false, "run each target once, unmeasured, first (a broker's first run grows its heap)")
	fs.StringVar(&stop, "stop", "", "name=pid,... of a process per target (a slow subscriber) to stop with SIGSTOP during its run")
	fs.DurationVar(&p.stopAt, "stop-at", 500*time.Millisecond, "with -stop: when after the publishers start")
	fs.DurationVar(&p.stopFor, "stop-for", 5*time.Second, "with -stop: for how long (then SIGCONT)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(targets) == 0 {
		return errors.New("no -target")
	}
	if p.size < 16 {
		p.size = 16
	}
	p.qos = byte(qos)
	if p.label == "" {
		p.label = fmt.Sprintf("%d pub -> %d sub, QoS %d, %d B", p.pubs, p.subs, p.qos, p.size)
	}
	p.pids, p.stop = parsePids(pids), parsePids(stop)
	if p.idle > 0 {
		return runIdle(ctx, targets, p, stdout, stderr)
	}
	if p.warmup {
		for _, t := range targets {
			if _, err := runLoad(ctx, t, p); err != nil {
				return fmt.Errorf("%s: warm-up: %w", t.name, err)
			}
		}
	}
	// Round-robin: every target runs once per round, so a change of the
	// machine's load during the rounds touches all of them alike.
	runs := make([][]result, len(targets))
	for round := range max(1, p.repeat) {
		for i, t := range targets {
			cpu0, _ := cpuTime(p.pids[t.name]) // 0 without a pid
			r, err := runLoad(ctx, t, p)
			if err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
			if cpu1, err := cpuTime(p.pids[t.name]); err == nil {
				r.cpu = cpu1 - cpu0
			}
			fmt.Fprintf(stderr, "%s %s (run %d): %s\n", p.label, t.name, round+1, r)
			runs[i] = append(runs[i], r)
		}
	}
	results := make([]rowResult, len(targets))
	for i, rs := range runs {
		results[i] = medians(rs)
	}
	printRow(stdout, p.label, results)
	return nil
}

// parsePids parses name=pid,...; entries that do not parse are left out.
func parsePids(s string) map[string]int {
	m := map[string]int{}
	for _, kv := range strings.Split(s, ",") {
		var name string
		var pid int
		if _, err := fmt.Sscanf(strings.Replace(kv, "=", " ", 1), "%s %d", &name, &pid); err == nil {
			m[name] = pid
		}
	}
	return m
}

// stamp writes the send time and a sequence number into the payload.
func stamp(buf []byte, seq uint64) {
	binary.BigEndian.PutUint64(buf[0:8], uint64(time.Now().UnixNano()))
	binary.BigEndian.PutUint64(buf[8:16], seq)
}
