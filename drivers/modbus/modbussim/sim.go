// Package modbussim is a Modbus slave simulator: a register store answering
// Modbus TCP clients and RTU masters on a serial line, with registers that
// change over time. The gateway's demo runs it in-process and polls it
// through the real Modbus TCP client; tests and benchmarks use it as a
// slave that needs no external program.
package modbussim

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"sync"
	"time"

	"github.com/edgegw/gateway/drivers/modbus/frame"
)

// Updater changes the simulated registers; it is called with the store
// locked before each request is answered, with the time since New.
type Updater func(elapsed time.Duration, s *Store)

// Store is the slave's data: 65536 of each kind, all zero at first
// (MBAP 4.3).
type Store struct {
	Coils    [65536]bool
	Discrete [65536]bool
	Holding  [65536]uint16
	Input    [65536]uint16
}

// SetFloat32 stores f big-endian (ABCD) in regs[addr], regs[addr+1].
func SetFloat32(regs *[65536]uint16, addr uint16, f float32) {
	SetUint32(regs, addr, math.Float32bits(f))
}

// SetUint32 stores u big-endian (ABCD) in two registers.
func SetUint32(regs *[65536]uint16, addr uint16, u uint32) {
	regs[addr] = uint16(u >> 16)
	regs[addr+1] = uint16(u)
}

// SetString stores s in n registers, two characters each, first character
// in the high byte, NUL padded.
func SetString(regs *[65536]uint16, addr uint16, n int, s string) {
	b := make([]byte, 2*n)
	copy(b, s)
	for i := range n {
		regs[int(addr)+i] = binary.BigEndian.Uint16(b[2*i:])
	}
}

// Server is a simulated slave. It answers requests of function 1-6, 15 and
// 16; a request past the end of the address space gets exception 2.
type Server struct {
	log     *slog.Logger
	start   time.Time
	mu      sync.Mutex
	store   Store
	updates []Updater
	reqs    int
}

// New returns a server with all registers zero that applies updates before
// answering each request.
func New(log *slog.Logger, updates ...Updater) *Server {
	return &Server{log: log, start: time.Now(), updates: updates}
}

// Do runs f with the store locked, to read or set registers.
func (s *Server) Do(f func(*Store)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.store)
}

// Requests returns the number of requests answered.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reqs
}

// Handle answers one request PDU.
func (s *Server) Handle(req frame.PDU) frame.PDU {
	r, err := frame.DecodeRequest(req)
	var ex frame.Exception
	if errors.As(err, &ex) {
		return frame.ExceptionResponse(req.Function, ex)
	}
	if int(r.Address)+int(r.Quantity) > 65536 {
		return frame.ExceptionResponse(req.Function, frame.IllegalDataAddress)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs++
	el := time.Since(s.start)
	for _, u := range s.updates {
		u(el, &s.store)
	}
	st := &s.store
	a, n := int(r.Address), int(r.Quantity)
	switch r.Function {
	case frame.ReadCoils:
		return frame.ReadBitsResponse(r.Function, st.Coils[a:a+n])
	case frame.ReadDiscreteInputs:
		return frame.ReadBitsResponse(r.Function, st.Discrete[a:a+n])
	case frame.ReadHoldingRegisters, frame.ReadInputRegisters:
		src := st.Holding[a : a+n]
		if r.Function == frame.ReadInputRegisters {
			src = st.Input[a : a+n]
		}
		b := make([]byte, 2*n)
		for i, v := range src {
			binary.BigEndian.PutUint16(b[2*i:], v)
		}
		return frame.ReadRegistersResponse(r.Function, b)
	case frame.WriteSingleCoil, frame.WriteMultipleCoils:
		copy(st.Coils[a:a+n], r.Coils)
	case frame.WriteSingleRegister, frame.WriteMultipleRegisters:
		for i := range n {
			st.Holding[a+i] = binary.BigEndian.Uint16(r.Regs[2*i:])
		}
	}
	return frame.WriteResponse(req)
}

// Serve answers Modbus TCP clients on ln (any unit id) until ctx is
// cancelled, then closes ln and the connections and returns nil.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		wg.Wait()
	}()
	stop := context.AfterFunc(ctx, func() { _ = ln.Close() }) // unblocks Accept
	defer stop()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Closing on cancel unblocks the read; the deferred close below repeats it harmlessly.
			unblock := context.AfterFunc(ctx, func() { _ = conn.Close() })
			defer unblock()
			defer conn.Close() // the client is gone or the server stops; nothing to report
			s.serveConn(conn)
		}()
	}
}

func (s *Server) serveConn(conn io.ReadWriter) {
	buf := make([]byte, frame.MaxTCPFrame)
	for {
		if _, err := io.ReadFull(conn, buf[:frame.MBAPHeaderLen]); err != nil {
			return // client gone
		}
		h, err := frame.DecodeHeader(buf)
		if err != nil {
			s.log.Debug("modbussim: bad mbap header; closing", "err", err)
			return
		}
		end := frame.MBAPHeaderLen + int(h.Length) - 1
		if _, err := io.ReadFull(conn, buf[frame.MBAPHeaderLen:end]); err != nil {
			return
		}
		req, err := frame.ParsePDU(buf[frame.MBAPHeaderLen:end])
		if err != nil {
			return
		}
		if _, err := conn.Write(frame.EncodeTCP(h.Transaction, h.Unit, s.Handle(req))); err != nil {
			return
		}
	}
}

// ServeRTU answers requests to slave on a serial line (anything readable and
// writable: a serial port, one end of a pty pair) until ctx is cancelled or
// reading fails. Frames for other slaves are ignored, frames with a bad CRC
// dropped (Serial 2.5.1.2). It expects rw's reads to return within a short
// read timeout so that it can notice cancellation.
func (s *Server) ServeRTU(ctx context.Context, rw io.ReadWriter, slave byte) error {
	buf := make([]byte, frame.MaxRTUFrame)
	got, need := 0, 2
	for ctx.Err() == nil {
		n, err := rw.Read(buf[got:need])
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		got += n
		if got < need {
			continue
		}
		total, err := frame.RTURequestLen(buf[:got])
		if err != nil {
			got, need = 0, 2 // garbage: resynchronise on the next bytes
			continue
		}
		if total > 0 && total <= len(buf) {
			need = total
		} else if total == 0 {
			need = 7
		}
		if got < need {
			continue
		}
		addr, req, err := frame.DecodeRTU(buf[:got])
		got, need = 0, 2
		if err != nil || addr != slave {
			continue
		}
		if _, err := rw.Write(frame.EncodeRTU(slave, s.Handle(req))); err != nil {
			return err
		}
	}
	return nil
}

// Start serves Modbus TCP on a free 127.0.0.1 port in its own goroutine and
// returns the address. stop ends serving and waits for it; it returns
// Serve's error (nil after a clean stop). Cancelling ctx stops serving too.
func (s *Server) Start(ctx context.Context) (addr string, stop func() error, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("modbus simulator: listen: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	return ln.Addr().String(), func() error {
		cancel()
		return <-done
	}, nil
}
