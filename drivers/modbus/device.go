package modbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgegw/gateway"
	"github.com/edgegw/gateway/config"
	"github.com/edgegw/gateway/drivers/modbus/frame"
)

// Device polls the points of one Modbus slave and writes to them. It
// implements gateway.Driver (each point on its own interval), gateway.Poller
// (every point once per call) and gateway.Writer.
type Device struct {
	name      string
	slave     byte
	client    *Client
	log       *slog.Logger
	points    map[string]*point
	schedules []schedule
	release   func() error // drops the device's share of the transport

	mu   sync.Mutex // guards down
	down bool       // logged as not responding

	polls, pollFailures, requests, requestErrors atomic.Uint64
}

var (
	_ gateway.Driver      = (*Device)(nil)
	_ gateway.Poller      = (*Device)(nil)
	_ gateway.Writer      = (*Device)(nil)
	_ gateway.PollCounter = (*Device)(nil)
)

// NewDevice compiles cfg and returns the device talking over t, which it
// may share with other devices. Close does not close t.
func NewDevice(cfg Config, t Transport, log *slog.Logger) (*Device, error) {
	cfg = cfg.withDefaults()
	r := config.NewErrReporter()
	c := compile(cfg, r)
	if c == nil {
		return nil, fmt.Errorf("device %s: %w", cfg.Name, r.Err())
	}
	d := &Device{
		name:      cfg.Name,
		slave:     byte(cfg.SlaveID),
		client:    NewClient(t, cfg.Timeout, cfg.Retries),
		log:       log.With("device", cfg.Name, "slave", cfg.SlaveID),
		points:    make(map[string]*point, len(c.points)),
		schedules: schedules(c.points, cfg.MaxGap),
		release:   func() error { return nil },
	}
	for _, p := range c.points {
		d.points[p.name] = p
	}
	return d, nil
}

// Name returns the device name.
func (d *Device) Name() string { return d.name }

// Client returns the device's client (for probes and benchmarks).
func (d *Device) Client() *Client { return d.client }

// Requests returns the number of read requests one poll of every point
// sends.
func (d *Device) Requests() int {
	n := 0
	for _, s := range d.schedules {
		n += len(s.blocks)
	}
	return n
}

// PollCounts returns the device's poll cycles (one per schedule per
// interval) and the read requests they sent; a block skipped because the
// slave already timed out in that cycle is not a request.
func (d *Device) PollCounts() gateway.PollCounts {
	return gateway.PollCounts{Polls: d.polls.Load(), PollFailures: d.pollFailures.Load(),
		Requests: d.requests.Load(), RequestErrors: d.requestErrors.Load()}
}

// Close releases the device's share of its transport; the transport closes
// when the last device sharing it is closed. Call it after Run returned.
func (d *Device) Close() error { return d.release() }

// Run polls each group of points on its interval until ctx is cancelled and
// returns nil; a failed poll emits the points with gateway.QualityBad.
func (d *Device) Run(ctx context.Context, emit func(gateway.Reading)) error {
	d.log.Info("modbus device polling", "requests_per_cycle", d.Requests())
	next := make([]time.Time, len(d.schedules))
	start := time.Now()
	for i := range next {
		next[i] = start
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for len(next) > 0 {
		i := 0
		for j := range next {
			if next[j].Before(next[i]) {
				i = j
			}
		}
		timer.Reset(time.Until(next[i]))
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		for _, r := range d.poll(ctx, d.schedules[i]) {
			emit(r)
		}
		iv := d.schedules[i].interval
		next[i] = next[i].Add(iv)
		if now := time.Now(); next[i].Before(now) {
			// A slow poll: skip the missed cycles rather than burst.
			next[i] = now.Add(iv)
		}
	}
	<-ctx.Done()
	return nil
}

// Poll reads every point once. It returns the readings (bad ones included)
// and the errors of the requests that failed, joined.
func (d *Device) Poll(ctx context.Context) ([]gateway.Reading, error) {
	var all []gateway.Reading
	for _, s := range d.schedules {
		all = append(all, d.poll(ctx, s)...)
	}
	var errs []error
	seen := map[error]bool{}
	for _, r := range all {
		if r.Err != nil && !seen[r.Err] {
			seen[r.Err] = true
			errs = append(errs, r.Err)
		}
	}
	return all, errors.Join(errs...)
}

// poll reads the blocks of one schedule.
func (d *Device) poll(ctx context.Context, s schedule) []gateway.Reading {
	var out []gateway.Reading
	d.mu.Lock()
	attempts := d.client.attempts()
	if d.down {
		attempts = 1 // a slave known to be silent gets no retries
	}
	d.mu.Unlock()
	d.polls.Add(1)
	var okN, failN int
	var skip, firstErr error
	for _, b := range s.blocks {
		var data []byte
		err := skip
		if err == nil {
			data, err = d.client.read(ctx, d.slave, b.reg, b.addr, b.count, attempts)
			if ctx.Err() == nil {
				d.requests.Add(1)
				if err != nil {
					d.requestErrors.Add(1)
				}
			}
		}
		now := time.Now()
		if err != nil {
			if ctx.Err() != nil {
				return out // shutting down: nothing to report
			}
			failN++
			if firstErr == nil {
				firstErr = err
			}
			if errors.Is(err, ErrTimeout) || errors.Is(err, ErrUnavailable) {
				// Do not spend another timeout per block on a silent slave.
				skip = err
			}
			for _, p := range b.points {
				out = append(out, gateway.Reading{Device: d.name, Point: p.name, Unit: p.unit,
					Quality: gateway.QualityBad, Time: now, Err: err})
			}
			continue
		}
		okN++
		var bits []bool
		if b.reg.IsBit() {
			bits = frame.UnpackBits(data, int(b.count))
		}
		for _, p := range b.points {
			off := int(p.addr - b.addr)
			var v gateway.Value
			if bits != nil {
				v = gateway.Bool(bits[off])
			} else {
				v = p.codec.Decode(data[2*off : 2*off+2*int(p.count)])
			}
			out = append(out, gateway.Reading{Device: d.name, Point: p.name, Unit: p.unit,
				Value: v, Quality: gateway.QualityGood, Time: now})
		}
	}
	if failN > 0 {
		d.pollFailures.Add(1)
	}
	d.setState(okN == 0 && failN > 0, firstErr)
	return out
}

// setState logs when the device stops or starts answering, once per change.
func (d *Device) setState(down bool, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if down == d.down {
		return
	}
	d.down = down
	if down {
		d.log.Warn("modbus device not responding", "err", err)
	} else {
		d.log.Info("modbus device responding")
	}
}

// WritePoint writes v to the named point with FC 5 (coil), FC 6 (one
// register) or FC 16 (several registers), encoded with the point's type,
// scale and byte order. A bit of a holding register is read, changed and
// written back (FC 3 then FC 6). Discrete inputs, input registers and points
// not configured writable return an error wrapping gateway.ErrNotWritable.
func (d *Device) WritePoint(ctx context.Context, name string, v gateway.Value) error {
	p, ok := d.points[name]
	if !ok {
		return fmt.Errorf("write %s.%s: %w", d.name, name, gateway.ErrUnknownPoint)
	}
	if !p.reg.Writable() {
		return fmt.Errorf("write %s.%s: %v: %w", d.name, name, p.reg, gateway.ErrNotWritable)
	}
	if !p.writable {
		return fmt.Errorf("write %s.%s: writable = false: %w", d.name, name, gateway.ErrNotWritable)
	}
	err := d.write(ctx, p, v)
	if err != nil {
		return fmt.Errorf("write %s.%s: %w", d.name, name, err)
	}
	return nil
}

func (d *Device) write(ctx context.Context, p *point, v gateway.Value) error {
	switch {
	case p.reg == Coil:
		on, err := boolOf(v)
		if err != nil {
			return err
		}
		return d.client.WriteCoil(ctx, d.slave, p.addr, on)
	case p.typ == TypeBit:
		cur, err := d.client.Read(ctx, d.slave, Holding, p.addr, 1)
		if err != nil {
			return err
		}
		reg, err := EncodeBit(p.order, cur, p.bit, v)
		if err != nil {
			return err
		}
		return d.client.WriteRegisters(ctx, d.slave, p.addr, reg)
	}
	regs, err := p.codec.Encode(v)
	if err != nil {
		return err
	}
	return d.client.WriteRegisters(ctx, d.slave, p.addr, regs)
}
