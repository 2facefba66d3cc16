package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgegw/gateway/broker/packet"
)

// benchProps are the properties of every message with -props: what a
// client using MQTT 5.0's message properties sends (section 3.3.2.3).
var benchProps = &packet.Properties{MessageExpiry: new(uint32(3600)),
	User: []packet.UserProperty{{Key: "source", Value: "mqttload"}, {Key: "unit", Value: "W"}}}

type result struct {
	received, expected int
	elapsed            time.Duration
	p50, p99, max      time.Duration
	cpu                time.Duration // broker CPU time (user+system) during the run
}

// perCPUs returns delivered messages per CPU-second of the broker.
func (r result) perCPUs() float64 {
	if r.cpu <= 0 {
		return 0
	}
	return float64(r.received) / r.cpu.Seconds()
}

func (r result) rate() float64 { return float64(r.received) / r.elapsed.Seconds() }

func (r result) String() string {
	return fmt.Sprintf("%d/%d delivered in %v: %.0f msg/s, latency p50 %v p99 %v max %v, missing %d, broker CPU %v",
		r.received, r.expected, r.elapsed.Round(time.Millisecond), r.rate(), r.p50, r.p99, r.max, r.expected-r.received, r.cpu)
}

func connect(url, id string, configure func(*mqtt.ClientOptions)) (mqtt.Client, error) {
	o := mqtt.NewClientOptions().AddBroker(url).SetClientID(id).SetCleanSession(true).
		SetAutoReconnect(false).SetConnectTimeout(10 * time.Second).SetProtocolVersion(4).
		SetKeepAlive(60 * time.Second).SetWriteTimeout(30 * time.Second)
	if configure != nil {
		configure(o)
	}
	c := mqtt.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(15 * time.Second) {
		return nil, fmt.Errorf("connect %s: timeout", url)
	}
	if err := tok.Error(); err != nil {
		return nil, fmt.Errorf("connect %s: %w", url, err)
	}
	return c, nil
}

type subStats struct {
	mu   sync.Mutex
	lats []time.Duration
	last time.Time
}

func runLoad(ctx context.Context, t target, p params) (result, error) {
	run := fmt.Sprintf("%d", time.Now().UnixNano()%1e9)
	prefix := "mqttload/" + run
	stats := make([]*subStats, p.subs)
	expected := p.pubs * p.n * p.subs
	allIn := make(chan struct{})
	var total atomic.Int64
	var clients []loadClient
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	for i := range p.subs {
		st := &subStats{lats: make([]time.Duration, 0, p.pubs*p.n)}
		stats[i] = st
		c, err := dial(t.url, fmt.Sprintf("sub-%s-%d", run, i))
		if err != nil {
			return result{}, err
		}
		clients = append(clients, c)
		err = c.Subscribe(prefix+"/#", p.qos, func(pl []byte) {
			now := time.Now()
			if len(pl) < 16 {
				return
			}
			sent := time.Unix(0, int64(binary.BigEndian.Uint64(pl)))
			st.mu.Lock()
			st.lats = append(st.lats, now.Sub(sent))
			st.last = now
			st.mu.Unlock()
			if total.Add(1) == int64(expected) {
				close(allIn)
			}
		})
		if err != nil {
			return result{}, fmt.Errorf("subscribe: %w", err)
		}
	}
	pubs := make([]loadClient, p.pubs)
	for i := range pubs {
		c, err := dial(t.url, fmt.Sprintf("pub-%s-%d", run, i))
		if rc, ok := c.(*rawClient); ok && p.props && rc.version == packet.Version5 {
			rc.props = benchProps
		}
		if err != nil {
			return result{}, err
		}
		clients = append(clients, c)
		pubs[i] = c
	}
	start := time.Now()
	if pid := p.stop[t.name]; pid != 0 {
		defer stopFor(pid, p.stopAt, p.stopFor)()
	}
	var wg sync.WaitGroup
	errs := make(chan error, p.pubs)
	for i, c := range pubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- publish(ctx, c, fmt.Sprintf("%s/%d", prefix, i), p)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return result{}, err
		}
	}
	// Stragglers: wait while deliveries still arrive, until none came for
	// p.drain. A message still queued in a broker is late, not lost.
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	seen, quiet := total.Load(), time.Now()
wait:
	for {
		select {
		case <-allIn:
			break wait
		case <-ctx.Done():
			return result{}, ctx.Err()
		case now := <-tick.C:
			if n := total.Load(); n != seen {
				seen, quiet = n, now
			} else if now.Sub(quiet) >= p.drain {
				break wait
			}
		}
	}
	var all []time.Duration
	var last time.Time
	for _, st := range stats {
		st.mu.Lock()
		all = append(all, st.lats...)
		if st.last.After(last) {
			last = st.last
		}
		st.mu.Unlock()
	}
	r := result{received: len(all), expected: expected, elapsed: last.Sub(start)}
	if len(all) > 0 {
		slices.Sort(all)
		r.p50 = all[len(all)/2].Round(10 * time.Microsecond)
		r.p99 = all[len(all)*99/100].Round(10 * time.Microsecond)
		r.max = all[len(all)-1].Round(10 * time.Microsecond)
	}
	return r, nil
}

// stopFor stops process pid (SIGSTOP) after at, for d, and continues it
// (SIGCONT). The returned function waits for that, so the process is
// never left stopped.
func stopFor(pid int, at, d time.Duration) (wait func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(at)
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			fmt.Fprintf(os.Stderr, "mqttload: stop %d: %v\n", pid, err)
			return
		}
		time.Sleep(d)
		syscall.Kill(pid, syscall.SIGCONT) // it was stopped: continuing it cannot fail but for a gone process
	}()
	return func() { <-done }
}

func publish(ctx context.Context, c loadClient, topic string, p params) error {
	buf := make([]byte, p.size)
	var tick *time.Ticker
	if p.rate > 0 {
		tick = time.NewTicker(time.Duration(float64(time.Second) / p.rate))
		defer tick.Stop()
	}
	var window []func() error
	for i := range p.n {
		if tick != nil {
			select {
			case <-tick.C:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		payload := make([]byte, len(buf))
		stamp(payload, uint64(i))
		wait := c.Publish(topic, p.qos, payload)
		if p.qos == 0 {
			continue
		}
		window = append(window, wait)
		if len(window) >= p.window {
			if err := window[0](); err != nil {
				return err
			}
			window = window[1:]
		}
	}
	for _, wait := range window {
		if err := wait(); err != nil {
			return err
		}
	}
	// A QoS 0 publisher has handed its messages to the client; a final QoS
	// 1 publish on another topic flushes them to the broker.
	return c.Publish(topic+"/flush", 1, []byte("x"))()
}

func waitTok(tok mqtt.Token) error {
	if !tok.WaitTimeout(30 * time.Second) {
		return fmt.Errorf("publish: no ack within 30s")
	}
	return tok.Error()
}

// rowResult is one target's figures in a row: each the median over the
// runs (of an even count, the lower middle one).
type rowResult struct {
	rate, perCPUs float64
	lost          int
	p50, p99      time.Duration
}

func medians(rs []result) rowResult {
	mid := func(v []float64) float64 {
		slices.Sort(v)
		return v[(len(v)-1)/2]
	}
	var rate, perCPU, lost, p50, p99 []float64
	for _, r := range rs {
		rate = append(rate, r.rate())
		perCPU = append(perCPU, r.perCPUs())
		lost = append(lost, float64(r.expected-r.received))
		p50 = append(p50, float64(r.p50))
		p99 = append(p99, float64(r.p99))
	}
	return rowResult{rate: mid(rate), perCPUs: mid(perCPU), lost: int(mid(lost)),
		p50: time.Duration(mid(p50)), p99: time.Duration(mid(p99))}
}

// printRow prints a Markdown row: per target msg/s, lost, p50 / p99 and
// messages per broker CPU-second; then the first target's msg/s and msg
// per CPU-s over the second's.
func printRow(w io.Writer, label string, rs []rowResult) {
	fmt.Fprintf(w, "| %s |", label)
	for _, r := range rs {
		fmt.Fprintf(w, " %.0f | %d | %v / %v | %.0f |", r.rate, r.lost, r.p50, r.p99, r.perCPUs)
	}
	if len(rs) >= 2 && rs[1].rate > 0 {
		fmt.Fprintf(w, " %.2fx |", rs[0].rate/rs[1].rate)
		if rs[1].perCPUs > 0 {
			fmt.Fprintf(w, " %.2fx |", rs[0].perCPUs/rs[1].perCPUs)
		}
	}
	fmt.Fprintln(w)
}
