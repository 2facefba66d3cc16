package serialline

import (
	"bytes"
	"errors"
	"io"
	"sync"
	"time"

	"go.bug.st/serial"
)

// fakePort is a serial.Port whose input is written by the test through a
// pipe and whose output is kept.
type fakePort struct {
	in  *io.PipeReader
	src *io.PipeWriter // the device side: the test writes lines here

	mu  sync.Mutex
	out bytes.Buffer
}

var _ serial.Port = (*fakePort)(nil)

func newFakePort() *fakePort {
	r, w := io.Pipe()
	return &fakePort{in: r, src: w}
}

var errFakeClosed = errors.New("fake port closed")

func (p *fakePort) Read(b []byte) (int, error) { return p.in.Read(b) }
func (p *fakePort) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}
func (p *fakePort) written() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}
func (p *fakePort) Close() error {
	return p.in.CloseWithError(errFakeClosed) // always nil
}
func (p *fakePort) SetMode(*serial.Mode) error { return nil }
func (p *fakePort) Drain() error               { return nil }
func (p *fakePort) ResetInputBuffer() error    { return nil }
func (p *fakePort) ResetOutputBuffer() error   { return nil }
func (p *fakePort) SetDTR(bool) error          { return nil }
func (p *fakePort) SetRTS(bool) error          { return nil }
func (p *fakePort) GetModemStatusBits() (*serial.ModemStatusBits, error) {
	return &serial.ModemStatusBits{}, nil
}
func (p *fakePort) SetReadTimeout(time.Duration) error { return nil }
func (p *fakePort) Break(time.Duration) error          { return nil }
