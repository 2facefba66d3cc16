package modbus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.bug.st/serial"

	"github.com/edgegw/gateway"
	"github.com/edgegw/gateway/drivers/modbus/frame"
)

// SerialConfig is the line setting of an RTU bus.
type SerialConfig struct {
	Port     string // device path, e.g. /dev/ttyUSB0
	Baud     int
	DataBits int
	Parity   string // none, even or odd
	StopBits int    // 1 or 2
}

// ErrPermission is wrapped by the error of a serial port the process may
// not open.
var ErrPermission = errors.New("permission denied (add the user to group dialout: sudo usermod -aG dialout $USER, then log in again)")

// readChunk bounds one blocking serial read so that cancellation is noticed.
const readChunk = 50 * time.Millisecond

// Bus is an RTU serial line shared by the slaves on it (Serial 2.1): one
// transaction at a time, callers served in arrival order, so a slave that
// never answers costs each poll one timeout but does not block the others.
// The port is opened on the first Send; when it fails (a USB adapter
// unplugged) it is closed and reopened by a later Send once it is back.
type Bus struct {
	cfg   SerialConfig
	mode  *serial.Mode
	delay time.Duration // inter-frame silence (Serial 2.5.1.1)
	bits  int           // bits per character
	log   *slog.Logger
	mu    lock
	cnt   counters
	open  func(name string, mode *serial.Mode) (serial.Port, error)

	// guarded by mu
	port   serial.Port
	quiet  time.Time // when the line is silent long enough to send
	opened bool
	down   bool
	closed bool
}

var _ Transport = (*Bus)(nil)

// NewBus returns the bus on cfg.Port. It does not open the port yet.
func NewBus(cfg SerialConfig, log *slog.Logger) (*Bus, error) {
	mode := &serial.Mode{BaudRate: cfg.Baud, DataBits: cfg.DataBits}
	switch cfg.Parity {
	case "none":
		mode.Parity = serial.NoParity
	case "even":
		mode.Parity = serial.EvenParity
	case "odd":
		mode.Parity = serial.OddParity
	default:
		return nil, fmt.Errorf("bus %s: parity %q: want none, even or odd", cfg.Port, cfg.Parity)
	}
	switch cfg.StopBits {
	case 1:
		mode.StopBits = serial.OneStopBit
	case 2:
		mode.StopBits = serial.TwoStopBits
	default:
		return nil, fmt.Errorf("bus %s: stop_bits %d: want 1 or 2", cfg.Port, cfg.StopBits)
	}
	if cfg.Baud <= 0 {
		return nil, fmt.Errorf("bus %s: baud %d: want > 0", cfg.Port, cfg.Baud)
	}
	return &Bus{
		cfg: cfg, mode: mode, delay: frame.InterFrameDelay(cfg.Baud),
		bits: charBits(cfg),
		log:  log.With("port", cfg.Port), mu: newLock(), open: serial.Open,
	}, nil
}

// Config returns the bus's line setting.
func (b *Bus) Config() SerialConfig { return b.cfg }

// Stats returns the traffic counters.
func (b *Bus) Stats() Stats { return b.cnt.stats() }

// Close closes the port; later Sends fail with gateway.ErrClosed.
func (b *Bus) Close() error {
	b.mu <- struct{}{}
	defer b.mu.release()
	b.closed = true
	if b.port != nil {
		err := b.port.Close()
		b.port = nil
		return err
	}
	return nil
}

// OpenError explains a failure to open a serial port: permission denied
// wraps ErrPermission (with the dialout hint).
func OpenError(name string, err error) error {
	var pe *serial.PortError
	if errors.As(err, &pe) {
		switch pe.Code() {
		case serial.PermissionDenied:
			return fmt.Errorf("open %s: %w", name, ErrPermission)
		case serial.PortBusy:
			return fmt.Errorf("open %s: port busy (another program has it open)", name)
		case serial.PortNotFound:
			return fmt.Errorf("open %s: no such port", name)
		}
	}
	return fmt.Errorf("open %s: %w", name, err)
}

func (b *Bus) ensureOpen() error {
	if b.port != nil {
		return nil
	}
	p, err := b.open(b.cfg.Port, b.mode)
	if err != nil {
		err = OpenError(b.cfg.Port, err)
		if !b.down {
			b.down = true
			b.log.Warn("modbus serial port unavailable; reopening on the next request", "err", err)
		}
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if b.opened {
		b.cnt.reconnects.Add(1)
	}
	b.opened = true
	b.port = p
	b.quiet = time.Now().Add(b.delay)
	if b.down {
		b.log.Info("modbus serial port open")
	} else {
		b.log.Debug("modbus serial port open")
	}
	b.down = false
	return nil
}

// lose closes a port that failed.
func (b *Bus) lose(err error) {
	if b.port == nil {
		return
	}
	_ = b.port.Close() // the port already failed with err; closing just frees it
	b.port = nil
	if !b.down {
		b.down = true
		b.log.Warn("modbus serial port lost; reopening on the next request", "err", err)
	}
}

// Send implements Transport.
func (b *Bus) Send(ctx context.Context, slave byte, req frame.PDU, timeout time.Duration) (frame.PDU, error) {
	if err := b.mu.acquire(ctx); err != nil {
		return frame.PDU{}, err
	}
	defer b.mu.release()
	if b.closed {
		return frame.PDU{}, fmt.Errorf("modbus bus %s: %w", b.cfg.Port, gateway.ErrClosed)
	}
	if err := b.ensureOpen(); err != nil {
		return frame.PDU{}, err
	}
	// Serial 2.5.1.1: at least 3.5 character times of silence between frames.
	if wait := time.Until(b.quiet); wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return frame.PDU{}, ctx.Err()
		}
	}
	// Drop whatever arrived since the last transaction (a late answer).
	if err := b.port.ResetInputBuffer(); err != nil {
		b.lose(err)
		return frame.PDU{}, fmt.Errorf("reset input: %w", err)
	}
	adu := frame.EncodeRTU(slave, req)
	// The timeout runs from the end of the request on the wire.
	ctx, cancel := context.WithTimeout(ctx, timeout+frame.WireTime(len(adu), b.cfg.Baud, b.bits))
	defer cancel()
	b.cnt.requests.Add(1)
	if _, err := b.port.Write(adu); err != nil {
		b.cnt.errors.Add(1)
		b.lose(err)
		return frame.PDU{}, fmt.Errorf("write: %w", err)
	}
	b.cnt.tx.Add(uint64(len(adu)))
	// The frame is on the wire once the UART has shifted it out.
	b.quiet = time.Now().Add(frame.WireTime(len(adu), b.cfg.Baud, b.bits) + b.delay)
	p, err := b.readResponse(ctx, slave, req)
	b.quiet = time.Now().Add(b.delay)
	return p, err
}

func (b *Bus) readResponse(ctx context.Context, slave byte, req frame.PDU) (frame.PDU, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(time.Hour)
	}
	buf := make([]byte, frame.MaxRTUFrame)
	got, need := 0, 3
	for got < need {
		if err := ctx.Err(); err == context.Canceled {
			return frame.PDU{}, err
		}
		left := time.Until(deadline)
		if left <= 0 {
			b.cnt.timeouts.Add(1)
			if got > 0 {
				return frame.PDU{}, fmt.Errorf("%w: %d bytes of a frame: % x", ErrTimeout, got, buf[:got])
			}
			return frame.PDU{}, ErrTimeout
		}
		if err := b.port.SetReadTimeout(min(left, readChunk)); err != nil {
			b.lose(err)
			return frame.PDU{}, fmt.Errorf("set read timeout: %w", err)
		}
		n, err := b.port.Read(buf[got:need])
		b.cnt.rx.Add(uint64(n))
		if err != nil {
			b.cnt.errors.Add(1)
			b.lose(err)
			return frame.PDU{}, fmt.Errorf("read: %w", err)
		}
		got += n
		if need == 3 {
			// RS-485 transceivers often emit a stray byte when the line
			// turns around: skip anything before the slave's address.
			i := bytes.IndexByte(buf[:got], slave)
			if i < 0 {
				got = 0
				continue
			}
			got = copy(buf, buf[i:got])
		}
		if got >= 3 && need == 3 {
			total, err := frame.RTUResponseLen(buf[:got])
			if err != nil || total > len(buf) {
				b.cnt.errors.Add(1)
				return frame.PDU{}, fmt.Errorf("read: garbled frame % x: %w", buf[:got], frame.ErrBadResponse)
			}
			need = total
			// The timeout bounds the wait for the answer to start; a long
			// answer at a low baud rate gets the time it needs on the wire.
			deadline = later(deadline, time.Now().Add(frame.WireTime(need-got, b.cfg.Baud, b.bits)+b.delay))
		}
	}
	addr, p, err := frame.DecodeRTU(buf[:got])
	if err != nil {
		b.cnt.errors.Add(1)
		return frame.PDU{}, fmt.Errorf("read: %w", err)
	}
	if addr != slave {
		b.cnt.errors.Add(1)
		return frame.PDU{}, fmt.Errorf("response from slave %d to slave %d: %w", addr, slave, frame.ErrBadResponse)
	}
	b.cnt.responses.Add(1)
	return p, nil
}

// charBits is the length of one character on the line: start bit, data
// bits, parity bit if any, stop bits.
func charBits(c SerialConfig) int {
	n := 1 + c.DataBits + c.StopBits
	if c.Parity != "none" {
		n++
	}
	return n
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
