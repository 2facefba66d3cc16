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
	"slices"
	"sync"
	"sync/atomic"
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
	// Observe, when set, sees every reading before it is mapped (the status
	// page's last values). It is called from the mapping goroutine and must
	// not block.
	Observe func(gateway.Reading)
	// ClockSynced, when set, says whether the system clock is synchronised;
	// readings taken while it is not are marked ClockUnsynced. It is called
	// for every reading and must be cheap.
	ClockSynced func() bool
	// OnState, when set, is told each change of a device's State (the
	// device status topics). It is called from the device's goroutine, at
	// most once per change, and must not block.
	OnState func(device string, s State)
}

// Pipeline connects devices to a mapper and a sink. Its devices and mapper
// can be replaced while it runs (Update), for a config reload.
type Pipeline struct {
	log    *slog.Logger
	sink   gateway.Sink
	opt    Options
	mapper atomic.Pointer[gateway.Mapper]

	mu       sync.Mutex
	devices  []Device  // the current set, in order
	health   []*health // by device, same order
	running  map[string]*running
	runCtx   context.Context // set by Run; nil before
	readings chan gateway.Reading
	wg       sync.WaitGroup

	lastMapped atomic.Int64 // unix nanoseconds when the mapping stage last took a reading

	pubMu      sync.Mutex // guards the publish counters; never held with mu
	published  uint64
	publishErr uint64
	sinkFailed bool
}

// running is a device goroutine.
type running struct {
	dev    Device
	h      *health
	cancel context.CancelFunc
	done   chan struct{}
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
	p := &Pipeline{log: log, sink: sink, opt: opt, running: map[string]*running{}}
	if err := checkDevices(devices); err != nil {
		return nil, err
	}
	p.mapper.Store(&mapper)
	p.devices = devices
	for _, d := range devices {
		p.health = append(p.health, p.newHealth(d.Name))
	}
	return p, nil
}

func checkDevices(devices []Device) error {
	names := map[string]bool{}
	for _, d := range devices {
		if (d.Poller == nil) == (d.Driver == nil) {
			return fmt.Errorf("pipeline: device %q: want exactly one of Poller and Driver", d.Name)
		}
		if d.Poller != nil && d.Interval <= 0 {
			return fmt.Errorf("pipeline: device %q: interval %v: want > 0", d.Name, d.Interval)
		}
		if names[d.Name] {
			return fmt.Errorf("pipeline: device %q: name used twice", d.Name)
		}
		names[d.Name] = true
	}
	return nil
}

// same reports whether a and b are the same running device: the same name
// and the same driver value.
func same(a, b Device) bool {
	return a.Name == b.Name && a.Interval == b.Interval &&
		any(a.Poller) == any(b.Poller) && any(a.Driver) == any(b.Driver)
}

// Run runs every device and the mapping stage until ctx is cancelled. Then
// it stops the drivers, maps and publishes the readings they had already
// produced (for at most DrainTimeout), and returns nil. Run is called once.
func (p *Pipeline) Run(ctx context.Context) error {
	p.mu.Lock()
	p.runCtx = ctx
	p.lastMapped.Store(p.opt.Now().UnixNano())
	p.readings = make(chan gateway.Reading, p.opt.Queue)
	for i, d := range p.devices {
		p.start(d, p.health[i])
	}
	readings := p.readings
	p.mu.Unlock()
	mapped := make(chan struct{})
	go func() {
		defer close(mapped)
		p.mapLoop(ctx, readings)
	}()
	<-ctx.Done()
	p.mu.Lock() // no Update starts devices from here on
	p.wg.Wait()
	close(readings)
	p.mu.Unlock()
	<-mapped
	return nil
}

// start runs d in a goroutine; p.mu is held.
func (p *Pipeline) start(d Device, h *health) {
	ctx, cancel := context.WithCancel(p.runCtx)
	r := &running{dev: d, h: h, cancel: cancel, done: make(chan struct{})}
	p.running[d.Name] = r
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer close(r.done)
		defer h.stopped()
		if d.Poller != nil {
			p.poll(ctx, d, h, p.readings)
		} else {
			p.drive(ctx, d, h, p.readings)
		}
	}()
}

// Update replaces the devices and the mapper of a running pipeline, for a
// config reload. A device in devices that is the same as a running one (same
// name, interval and driver value) keeps running without a gap; the others
// are stopped (waiting for their goroutine to end, so a port is free again)
// before the new ones start. Readings already produced are mapped with the
// mapper that is current when the mapping stage takes them; a mapper with an
// InheritFrom(old gateway.Mapper) method gets the old one when it takes over. Update returns
// the devices it stopped, so the caller can release them.
func (p *Pipeline) Update(devices []Device, mapper gateway.Mapper) (stopped []Device, err error) {
	if err := checkDevices(devices); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.runCtx == nil || p.runCtx.Err() != nil {
		return nil, fmt.Errorf("pipeline update: %w", gateway.ErrClosed)
	}
	keep := map[string]bool{}
	for _, d := range devices {
		if r, ok := p.running[d.Name]; ok && same(r.dev, d) {
			keep[d.Name] = true
		}
	}
	for name, r := range p.running {
		if !keep[name] {
			r.cancel()
			<-r.done
			delete(p.running, name)
			stopped = append(stopped, r.dev)
			p.log.Info("device removed", "device", name)
		}
	}
	p.mapper.Store(&mapper)
	health := make([]*health, len(devices))
	for i, d := range devices {
		if keep[d.Name] {
			health[i] = p.running[d.Name].h
			continue
		}
		health[i] = p.newHealth(d.Name)
		p.start(d, health[i])
		p.log.Info("device added", "device", d.Name)
	}
	p.devices, p.health = devices, health
	return stopped, nil
}

// newHealth returns the health of a new device.
func (p *Pipeline) newHealth(name string) *health {
	h := newHealth(name, p.log.With("device", name), p.opt.Now)
	h.onState = p.opt.OnState
	return h
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
			p.markClock(&r)
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
			p.markClock(&r)
			if send(runCtx, out, r) {
				h.emitted(r)
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

// markClock marks r when the system clock is not synchronised.
func (p *Pipeline) markClock(r *gateway.Reading) {
	if p.opt.ClockSynced != nil && !p.opt.ClockSynced() {
		r.ClockUnsynced = true
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
	cur := *p.mapper.Load()
	for r := range in {
		p.lastMapped.Store(p.opt.Now().UnixNano())
		if next := *p.mapper.Load(); next != cur {
			// A reload replaced the mapper: let it take over the state of the
			// old one (report-on-change), here where Map is called.
			if h, ok := next.(interface{ InheritFrom(gateway.Mapper) }); ok {
				h.InheritFrom(cur)
			}
			cur = next
		}
		if p.opt.Observe != nil {
			p.opt.Observe(r)
		}
		for _, m := range cur.Map(r) {
			p.publish(pubCtx, m)
		}
	}
}

func (p *Pipeline) publish(ctx context.Context, m gateway.Message) {
	err := p.sink.Publish(ctx, m)
	p.pubMu.Lock()
	defer p.pubMu.Unlock()
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
	p.mu.Lock()
	hs, devs := p.health, p.devices
	p.mu.Unlock()
	out := make([]DeviceStatus, len(hs))
	for i, h := range hs {
		out[i] = withCounts(h.status(), devs[i])
	}
	return out
}

// stuckAfter is how long readings may wait for the mapping stage before
// the pipeline counts as stuck.
const stuckAfter = 30 * time.Second

// Healthy returns an error when the pipeline is stuck: readings have been
// waiting for the mapping stage (blocked on a sink) for over 30 seconds.
// The systemd watchdog stops its pings then, and systemd restarts the
// gateway; the buffered data is on disk.
func (p *Pipeline) Healthy() error {
	p.mu.Lock()
	ch := p.readings
	p.mu.Unlock()
	if len(ch) == 0 { // also a nil channel
		return nil
	}
	last := time.Unix(0, p.lastMapped.Load())
	if waited := p.opt.Now().Sub(last); waited > stuckAfter {
		return fmt.Errorf("pipeline stuck: %d readings waiting, none mapped for %v", len(ch), waited.Round(time.Second))
	}
	return nil
}

// Devices returns the current devices, in order.
func (p *Pipeline) Devices() []Device {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.devices)
}

// Counts returns how many messages were published and how many failed.
func (p *Pipeline) Counts() (published, failed uint64) {
	p.pubMu.Lock()
	defer p.pubMu.Unlock()
	return p.published, p.publishErr
}
