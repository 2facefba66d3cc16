// Package pipeline runs the gateway's data path: every device's driver in
// its own goroutine, the mapping of readings to messages, and the sink the
// messages go to. A Pipeline supervises its drivers: a device that fails is
// retried with backoff and its state is logged once per change.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/edgegw/gateway"
)

// Device is one supervised device: a Poller read every Interval, or a Driver
// that runs on its own. Exactly one of Poller and Driver is set.
type Device struct {
	Name     string
	Poller   gateway.Poller
	Interval time.Duration // for Poller
	Driver   gateway.Driver
}

// Options tune a Pipeline; the zero value gives the defaults.
type Options struct {
	// MinBackoff is the first wait before restarting a Driver that stopped
	// with an error (default 1s); a failing Poller waits its Interval first.
	MinBackoff time.Duration
	// MaxBackoff caps the wait before retrying a failing device (default 1m).
	MaxBackoff time.Duration
	// DrainTimeout bounds how long Run keeps mapping and publishing readings
	// that were already produced when its context was cancelled (default 5s).
	DrainTimeout time.Duration
	// Queue is the number of readings that may wait for the mapping stage
	// (default 1024); a full queue makes drivers wait.
	Queue int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Pipeline connects devices to a mapper and a sink.
type Pipeline struct {
	log     *slog.Logger
	devices []Device
	mapper  gateway.Mapper
	sink    gateway.Sink
	opt     Options
	health  []*health

	mu         sync.Mutex
	published  uint64
	publishErr uint64
	sinkFailed bool
}

// New returns a pipeline; Run starts it.
func New(log *slog.Logger, devices []Device, mapper gateway.Mapper, sink gateway.Sink, opt Options) (*Pipeline, error) {
	if opt.MaxBackoff <= 0 {
		opt.MaxBackoff = time.Minute
	}
	if opt.MinBackoff <= 0 {
		opt.MinBackoff = time.Second
	}
	if opt.DrainTimeout <= 0 {
		opt.DrainTimeout = 5 * time.Second
	}
	if opt.Queue <= 0 {
		opt.Queue = 1024
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	p := &Pipeline{log: log, devices: devices, mapper: mapper, sink: sink, opt: opt}
	for _, d := range devices {
		if (d.Poller == nil) == (d.Driver == nil) {
			return nil, fmt.Errorf("pipeline: device %q: want exactly one of Poller and Driver", d.Name)
		}
		if d.Poller != nil && d.Interval <= 0 {
			return nil, fmt.Errorf("pipeline: device %q: interval %v: want > 0", d.Name, d.Interval)
		}
		p.health = append(p.health, newHealth(d.Name, log.With("device", d.Name), opt.Now))
	}
	return p, nil
}

// Run runs every device and the mapping stage until ctx is cancelled. Then
// it stops the drivers, maps and publishes the readings they had already
// produced (for at most DrainTimeout), and returns nil. Run is called once.
func (p *Pipeline) Run(ctx context.Context) error {
	readings := make(chan gateway.Reading, p.opt.Queue)
	var wg sync.WaitGroup
	for i, d := range p.devices {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer p.health[i].stopped()
			if d.Poller != nil {
				p.poll(ctx, d, p.health[i], readings)
			} else {
				p.drive(ctx, d, p.health[i], readings)
			}
		}()
	}
	mapped := make(chan struct{})
	go func() {
		defer close(mapped)
		p.mapLoop(ctx, readings)
	}()
	wg.Wait()
	close(readings)
	<-mapped
	return nil
}

// send hands r to the mapping stage, or gives up when ctx is done.
func send(ctx context.Context, out chan<- gateway.Reading, r gateway.Reading) bool {
	select {
	case out <- r:
		return true
	case <-ctx.Done():
		return false
	}
}

func (p *Pipeline) poll(ctx context.Context, d Device, h *health, out chan<- gateway.Reading) {
	failures := 0
	next := p.opt.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		start := p.opt.Now()
		pollCtx, cancel := context.WithTimeout(ctx, max(d.Interval, time.Second)*2)
		rs, err := d.Poller.Poll(pollCtx)
		cancel()
		if ctx.Err() != nil {
			// Cancelled mid-poll: whatever came back is incomplete.
			return
		}
		for _, r := range rs {
			if r.Device == "" {
				r.Device = d.Name
			}
			if !send(ctx, out, r) {
				return
			}
		}
		if err != nil {
			h.fail(err)
			failures++
		} else {
			h.ok(len(rs))
			failures = 0
		}
		// Keep a steady cadence while healthy; back off while failing.
		next = next.Add(d.Interval)
		if failures > 0 {
			next = start.Add(p.backoff(d.Interval, failures))
		}
		if now := p.opt.Now(); next.Before(now) {
			next = now // a slow poll: start the next one at once, don't catch up
		}
		timer.Reset(next.Sub(p.opt.Now()))
	}
}

func (p *Pipeline) drive(ctx context.Context, d Device, h *health, out chan<- gateway.Reading) {
	failures := 0
	for {
		runCtx, cancel := context.WithCancel(ctx)
		emit := func(r gateway.Reading) {
			if r.Device == "" {
				r.Device = d.Name
			}
			if send(runCtx, out, r) {
				h.emitted()
			}
		}
		started := p.opt.Now()
		err := d.Driver.Run(runCtx, emit)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errors.New("driver stopped without an error")
		}
		h.fail(err)
		// A driver that ran well for a while starts its backoff afresh.
		if p.opt.Now().Sub(started) > p.opt.MaxBackoff {
			failures = 0
		}
		failures++
		t := time.NewTimer(p.backoff(p.opt.MinBackoff, failures))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// backoff returns the wait after the n-th failure in a row: base doubled
// n-1 times, capped at MaxBackoff (but never below base), with ±10% jitter
// so that devices on one bus do not retry in lockstep.
func (p *Pipeline) backoff(base time.Duration, n int) time.Duration {
	d := base
	for i := 1; i < n && d < p.opt.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, max(p.opt.MaxBackoff, base))
	jitter := time.Duration(rand.Int64N(int64(d)/5+1)) - d/10
	return d + jitter
}

func (p *Pipeline) mapLoop(ctx context.Context, in <-chan gateway.Reading) {
	// Readings produced before the cancel are still published: the sink gets
	// a context that outlives ctx by at most DrainTimeout.
	pubCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(p.opt.DrainTimeout, cancel)
		context.AfterFunc(pubCtx, func() { t.Stop() })
	})
	defer stop()
	for r := range in {
		for _, m := range p.mapper.Map(r) {
			p.publish(pubCtx, m)
		}
	}
}

func (p *Pipeline) publish(ctx context.Context, m gateway.Message) {
	err := p.sink.Publish(ctx, m)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err == nil {
		p.published++
		if p.sinkFailed {
			p.sinkFailed = false
			p.log.Info("publishing again", "topic", m.Topic)
		}
		return
	}
	p.publishErr++
	if !p.sinkFailed {
		p.sinkFailed = true
		p.log.Error("publish failed; message dropped", "topic", m.Topic, "err", err)
	} else {
		p.log.Debug("publish failed; message dropped", "topic", m.Topic, "err", err)
	}
}

// Status returns a snapshot of every device, in configuration order.
func (p *Pipeline) Status() []DeviceStatus {
	out := make([]DeviceStatus, len(p.health))
	for i, h := range p.health {
		out[i] = h.status()
	}
	return out
}

// Counts returns how many messages were published and how many failed.
func (p *Pipeline) Counts() (published, failed uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.published, p.publishErr
}
