package main

import (
	"context"
	"io"
	"sync"

	"github.com/edgegw/gateway"
)

// console is a sink that prints each message as "topic payload" on one line,
// so the demo (and `gateway run --print`) show what flows.
type console struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte
}

var _ gateway.Sink = (*console)(nil)

func (c *console) Publish(_ context.Context, m gateway.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf = append(c.buf[:0], m.Topic...)
	c.buf = append(c.buf, ' ')
	c.buf = append(c.buf, m.Payload...)
	c.buf = append(c.buf, '\n')
	_, err := c.w.Write(c.buf)
	return err
}
