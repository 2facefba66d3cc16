package modbus

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"go.bug.st/serial"

	"github.com/edgegw/gateway/drivers/modbus/frame"
)

// fakePort is a serial.Port whose answers are scripted: every Write is
// answered by reply(frame), delivered to the following Reads.
type fakePort struct {
	mu      sync.Mutex
	reply   func(req []byte) []byte
	pending []byte
	timeout time.Duration
	closed  bool
	fail    error         // returned by Read and Write when set
	perByte time.Duration // how long each byte takes to arrive
}

var _ serial.Port = (*fakePort)(nil)

func (p *fakePort) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail != nil {
		return 0, p.fail
	}
	p.pending = append(p.pending, p.reply(b)...)
	return len(b), nil
}

func (p *fakePort) Read(b []byte) (int, error) {
	p.mu.Lock()
	if p.fail != nil {
		defer p.mu.Unlock()
		return 0, p.fail
	}
	if len(p.pending) == 0 {
		d := p.timeout
		p.mu.Unlock()
		time.Sleep(d) // a real port blocks for its read timeout when nothing arrives
		return 0, nil
	}
	defer p.mu.Unlock()
	time.Sleep(p.perByte)       // the byte's time on the wire
	n := copy(b, p.pending[:1]) // one byte at a time, like a slow line
	p.pending = p.pending[n:]
	return n, nil
}

func (p *fakePort) SetReadTimeout(t time.Duration) error { p.timeout = t; return nil }
func (p *fakePort) ResetInputBuffer() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pending = nil
	return nil
}
func (p *fakePort) Close() error                                         { p.closed = true; return nil }
func (p *fakePort) SetMode(*serial.Mode) error                           { return nil }
func (p *fakePort) Drain() error                                         { return nil }
func (p *fakePort) ResetOutputBuffer() error                             { return nil }
func (p *fakePort) SetDTR(bool) error                                    { return nil }
func (p *fakePort) SetRTS(bool) error                                    { return nil }
func (p *fakePort) GetModemStatusBits() (*serial.ModemStatusBits, error) { return nil, nil }
func (p *fakePort) Break(time.Duration) error                            { return nil }

func newFakeBus(t *testing.T, port *fakePort) *Bus {
	t.Helper()
	b, err := NewBus(SerialConfig{Port: "/dev/fake", Baud: 115200, DataBits: 8, Parity: "none", StopBits: 1}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	b.open = func(string, *serial.Mode) (serial.Port, error) { return port, nil }
	return b
}

func TestBusFrames(t *testing.T) {
	answer := frame.EncodeRTU(3, frame.ReadRegistersResponse(frame.ReadHoldingRegisters, []byte{0x12, 0x34}))
	tests := []struct {
		name  string
		reply []byte
		err   error
	}{
		{"clean", answer, nil},
		{"leading noise", append([]byte{0x00, 0xFF}, answer...), nil},
		{"bad crc", append(append([]byte(nil), answer[:len(answer)-1]...), answer[len(answer)-1]^1), frame.ErrBadCRC},
		{"silent", nil, ErrTimeout},
		{"truncated", answer[:4], ErrTimeout},
		{"exception", frame.EncodeRTU(3, frame.ExceptionResponse(frame.ReadHoldingRegisters, frame.ServerDeviceBusy)), frame.ServerDeviceBusy},
	}
	for _, tt := range tests {
		port := &fakePort{reply: func([]byte) []byte { return tt.reply }}
		c := NewClient(newFakeBus(t, port), 30*time.Millisecond, 0)
		got, err := c.Read(t.Context(), 3, Holding, 0, 1)
		if !errors.Is(err, tt.err) {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.err)
			continue
		}
		if err == nil && !bytes.Equal(got, []byte{0x12, 0x34}) {
			t.Errorf("%s: got % x", tt.name, got)
		}
	}
}

func TestBusRequestFrame(t *testing.T) {
	var sent []byte
	port := &fakePort{reply: func(req []byte) []byte {
		sent = append([]byte(nil), req...)
		return frame.EncodeRTU(0x11, frame.WriteResponse(frame.WriteSingleRegisterRequest(1, 3)))
	}}
	c := NewClient(newFakeBus(t, port), time.Second, 0)
	if err := c.WriteRegisters(t.Context(), 0x11, 1, []byte{0, 3}); err != nil {
		t.Fatal(err)
	}
	// Serial 6.2.2's example slave 0x11, and FC 6 register 1 = 3.
	if want := []byte{0x11, 0x06, 0x00, 0x01, 0x00, 0x03, 0x9A, 0x9B}; !bytes.Equal(sent, want) {
		t.Errorf("sent % x, want % x", sent, want)
	}
}

func TestBusReopensAfterFailure(t *testing.T) {
	port := &fakePort{reply: func([]byte) []byte { return nil }, fail: io.ErrUnexpectedEOF}
	b := newFakeBus(t, port)
	opens := 0
	b.open = func(string, *serial.Mode) (serial.Port, error) {
		opens++
		if opens == 2 {
			return nil, errors.New("no such file or directory")
		}
		return port, nil
	}
	c := NewClient(b, 20*time.Millisecond, 0)
	ctx := context.Background()
	if _, err := c.Read(ctx, 1, Holding, 0, 1); err == nil || !port.closed {
		t.Fatalf("read on a failing port: %v, closed %v", err, port.closed)
	}
	if _, err := c.Read(ctx, 1, Holding, 0, 1); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("read while the port is gone: got %v, want ErrUnavailable", err)
	}
	port.fail, port.closed = nil, false
	port.reply = func([]byte) []byte {
		return frame.EncodeRTU(1, frame.ReadRegistersResponse(frame.ReadHoldingRegisters, []byte{0, 1}))
	}
	if _, err := c.Read(ctx, 1, Holding, 0, 1); err != nil {
		t.Fatalf("read after the port came back: %v", err)
	}
	if got := b.Stats().Reconnects; got != 1 {
		t.Errorf("reconnects %d, want 1", got)
	}
}

// TestBusLongAnswerAtLowBaud: an answer that starts within the timeout but
// needs longer on the wire is read whole.
func TestBusLongAnswerAtLowBaud(t *testing.T) {
	answer := frame.EncodeRTU(1, frame.ReadRegistersResponse(frame.ReadInputRegisters, make([]byte, 250)))
	// 255 bytes x 400 µs = 100 ms, five times the timeout.
	port := &fakePort{reply: func([]byte) []byte { return answer }, perByte: 400 * time.Microsecond}
	b := newFakeBus(t, port)
	b.cfg.Baud = 1200 // 255 bytes take 2.3 s at 1200 baud
	c := NewClient(b, 20*time.Millisecond, 0)
	if _, err := c.Read(t.Context(), 1, Input, 0, 125); err != nil {
		t.Fatal(err)
	}
}
