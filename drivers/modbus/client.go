package modbus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/edgegw/gateway/drivers/modbus/frame"
)

// Client is the Modbus master side for one device: it applies the device's
// per-request timeout and retries to requests it sends over a Transport,
// which several Clients (slaves on one bus) may share. It is safe for
// concurrent use.
type Client struct {
	t       Transport
	timeout time.Duration
	retries int
}

// NewClient returns a Client that gives each attempt timeout and retries a
// retryable failure (see Retryable) up to retries more times.
func NewClient(t Transport, timeout time.Duration, retries int) *Client {
	return &Client{t: t, timeout: timeout, retries: retries}
}

// Transport returns the client's transport.
func (c *Client) Transport() Transport { return c.t }

// do sends req with retries; attempts may be lowered below the configured
// retries by the caller (a device already known to be down gets one).
func (c *Client) do(ctx context.Context, slave byte, req frame.PDU, attempts int) (frame.PDU, error) {
	var err error
	for range attempts {
		var resp frame.PDU
		resp, err = c.t.Send(ctx, slave, req, c.timeout)
		if err == nil {
			if err = frame.CheckResponse(req, resp); err == nil {
				return resp, nil
			}
		}
		if ctx.Err() != nil {
			return frame.PDU{}, ctx.Err()
		}
		if errors.Is(err, ErrTimeout) {
			err = fmt.Errorf("%w after %v", err, c.timeout)
		}
		if !Retryable(err) {
			return frame.PDU{}, err
		}
	}
	return frame.PDU{}, err
}

func (c *Client) attempts() int { return 1 + c.retries }

// Read reads qty registers (2 bytes each, as on the wire) or bits (packed,
// first bit in the least significant bit) of kind from slave.
func (c *Client) Read(ctx context.Context, slave byte, kind Register, addr, qty uint16) ([]byte, error) {
	return c.read(ctx, slave, kind, addr, qty, c.attempts())
}

func (c *Client) read(ctx context.Context, slave byte, kind Register, addr, qty uint16, attempts int) ([]byte, error) {
	req := frame.ReadRequest(kind.ReadFunction(), addr, qty)
	resp, err := c.do(ctx, slave, req, attempts)
	if err == nil {
		var data []byte
		if data, err = frame.ParseReadResponse(req, resp); err == nil {
			return data, nil
		}
	}
	return nil, fmt.Errorf("read slave %d %v %d..%d: %w", slave, kind, addr, int(addr)+int(qty)-1, err)
}

// ReadBits reads qty coils or discrete inputs from slave.
func (c *Client) ReadBits(ctx context.Context, slave byte, kind Register, addr, qty uint16) ([]bool, error) {
	data, err := c.Read(ctx, slave, kind, addr, qty)
	if err != nil {
		return nil, err
	}
	return frame.UnpackBits(data, int(qty)), nil
}

// WriteCoil writes one coil with FC 5.
func (c *Client) WriteCoil(ctx context.Context, slave byte, addr uint16, on bool) error {
	return c.write(ctx, slave, frame.WriteSingleCoilRequest(addr, on), "coil", addr, 1)
}

// WriteCoils writes coils with FC 15.
func (c *Client) WriteCoils(ctx context.Context, slave byte, addr uint16, coils []bool) error {
	req, err := frame.WriteMultipleCoilsRequest(addr, coils)
	if err != nil {
		return fmt.Errorf("write slave %d coil %d: %w", slave, addr, err)
	}
	return c.write(ctx, slave, req, "coil", addr, len(coils))
}

// WriteRegisters writes registers (wire bytes, 2 per register): one with
// FC 6, more with FC 16.
func (c *Client) WriteRegisters(ctx context.Context, slave byte, addr uint16, regs []byte) error {
	if len(regs) == 2 {
		return c.write(ctx, slave, frame.WriteSingleRegisterRequest(addr, uint16(regs[0])<<8|uint16(regs[1])), "holding", addr, 1)
	}
	req, err := frame.WriteMultipleRegistersRequest(addr, regs)
	if err != nil {
		return fmt.Errorf("write slave %d holding %d: %w", slave, addr, err)
	}
	return c.write(ctx, slave, req, "holding", addr, len(regs)/2)
}

func (c *Client) write(ctx context.Context, slave byte, req frame.PDU, kind string, addr uint16, n int) error {
	resp, err := c.do(ctx, slave, req, c.attempts())
	if err == nil {
		err = frame.ParseWriteResponse(req, resp)
	}
	if err != nil {
		return fmt.Errorf("write slave %d %s %d..%d: %w", slave, kind, addr, int(addr)+n-1, err)
	}
	return nil
}
