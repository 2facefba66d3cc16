package frame

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func TestEncodeRTU(t *testing.T) {
	for _, g := range rtuGoldens {
		if got := EncodeRTU(g.slave, g.pdu); !bytes.Equal(got, g.frame) {
			t.Errorf("%s: got % x, want % x", g.name, got, g.frame)
		}
	}
}

func TestDecodeRTU(t *testing.T) {
	for _, g := range rtuGoldens {
		slave, p, err := DecodeRTU(g.frame)
		if err != nil {
			t.Errorf("%s: %v", g.name, err)
			continue
		}
		if slave != g.slave || p.Function != g.pdu.Function || !bytes.Equal(p.Data, g.pdu.Data) {
			t.Errorf("%s: got %d %v % x, want %d %v % x", g.name, slave, p.Function, p.Data, g.slave, g.pdu.Function, g.pdu.Data)
		}
	}
	for _, b := range badRTU {
		if _, _, err := DecodeRTU(b.frame); !errors.Is(err, b.err) {
			t.Errorf("%s: got %v, want %v", b.name, err, b.err)
		}
	}
}

func TestRTULengths(t *testing.T) {
	for _, g := range rtuGoldens {
		var n int
		var err error
		if isRequest(g.name) {
			n, err = RTURequestLen(g.frame)
		} else {
			n, err = RTUResponseLen(g.frame)
		}
		if err != nil || n != len(g.frame) {
			t.Errorf("%s: length %d, %v; want %d", g.name, n, err, len(g.frame))
		}
	}
}

func isRequest(name string) bool { return bytes.HasSuffix([]byte(name), []byte("request")) }

func TestEncodeTCP(t *testing.T) {
	for _, g := range tcpGoldens {
		if got := EncodeTCP(g.tid, g.slave, g.pdu); !bytes.Equal(got, g.frame) {
			t.Errorf("%s: got % x, want % x", g.name, got, g.frame)
		}
	}
}

func TestDecodeTCP(t *testing.T) {
	for _, g := range tcpGoldens {
		h, p, err := DecodeTCP(g.frame)
		if err != nil {
			t.Errorf("%s: %v", g.name, err)
			continue
		}
		if h.Transaction != g.tid || h.Unit != g.slave || p.Function != g.pdu.Function || !bytes.Equal(p.Data, g.pdu.Data) {
			t.Errorf("%s: got %+v %v % x", g.name, h, p.Function, p.Data)
		}
	}
	for _, b := range badTCP {
		if _, _, err := DecodeTCP(b.frame); !errors.Is(err, b.err) {
			t.Errorf("%s: got %v, want %v", b.name, err, b.err)
		}
	}
}

func TestParseReadResponse(t *testing.T) {
	tests := []struct {
		name      string
		req, resp PDU
		want      []byte
		err       error
	}{
		{"holding", ReadRequest(ReadHoldingRegisters, 107, 3), rtuGoldens[1].pdu, []byte{2, 0x2B, 0, 0, 0, 0x64}, nil},
		{"coils", ReadRequest(ReadCoils, 19, 19), rtuGoldens[3].pdu, []byte{0xCD, 0x6B, 0x05}, nil},
		{"exception", ReadRequest(ReadHoldingRegisters, 0, 1), ExceptionResponse(ReadHoldingRegisters, IllegalDataAddress), nil, IllegalDataAddress},
		{"wrong count", ReadRequest(ReadHoldingRegisters, 107, 2), rtuGoldens[1].pdu, nil, ErrBadLength},
		{"wrong function", ReadRequest(ReadInputRegisters, 107, 3), rtuGoldens[1].pdu, nil, ErrBadFunction},
		{"empty", ReadRequest(ReadInputRegisters, 107, 3), PDU{Function: ReadInputRegisters}, nil, ErrShortFrame},
	}
	for _, tt := range tests {
		got, err := ParseReadResponse(tt.req, tt.resp)
		if !errors.Is(err, tt.err) || !bytes.Equal(got, tt.want) {
			t.Errorf("%s: got % x, %v; want % x, %v", tt.name, got, err, tt.want, tt.err)
		}
	}
}

func TestParseWriteResponse(t *testing.T) {
	req := must(WriteMultipleRegistersRequest(1, []byte{0, 0x0A, 1, 2}))
	if err := ParseWriteResponse(req, PDU{WriteMultipleRegisters, []byte{0, 1, 0, 2}}); err != nil {
		t.Errorf("echo: %v", err)
	}
	if err := ParseWriteResponse(req, PDU{WriteMultipleRegisters, []byte{0, 1, 0, 3}}); !errors.Is(err, ErrBadResponse) {
		t.Errorf("wrong echo: got %v, want ErrBadResponse", err)
	}
	err := ParseWriteResponse(req, ExceptionResponse(WriteMultipleRegisters, ServerDeviceBusy))
	var ex Exception
	if !errors.As(err, &ex) || ex != ServerDeviceBusy || !ex.Retryable() {
		t.Errorf("busy: got %v", err)
	}
}

func TestDecodeRequest(t *testing.T) {
	tests := []struct {
		name string
		pdu  PDU
		want Request
		err  error
	}{
		{"read holding", ReadRequest(ReadHoldingRegisters, 107, 3), Request{Function: 3, Address: 107, Quantity: 3}, nil},
		{"write coil", WriteSingleCoilRequest(172, true), Request{Function: 5, Address: 172, Quantity: 1, Coils: []bool{true}}, nil},
		{"write regs", rtuGoldens[12].pdu, Request{Function: 16, Address: 1, Quantity: 2, Regs: []byte{0, 0x0A, 1, 2}}, nil},
		{"too many registers", ReadRequest(ReadHoldingRegisters, 0, 126), Request{}, IllegalDataValue},
		{"zero coils", ReadRequest(ReadCoils, 0, 0), Request{}, IllegalDataValue},
		{"bad coil value", PDU{WriteSingleCoil, []byte{0, 1, 0x12, 0x34}}, Request{}, IllegalDataValue},
		{"function 43", PDU{43, []byte{14, 1, 0}}, Request{}, IllegalFunction},
	}
	for _, tt := range tests {
		got, err := DecodeRequest(tt.pdu)
		if !errors.Is(err, tt.err) {
			t.Errorf("%s: error %v, want %v", tt.name, err, tt.err)
			continue
		}
		if err == nil && (got.Function != tt.want.Function || got.Address != tt.want.Address ||
			got.Quantity != tt.want.Quantity || !bytes.Equal(got.Regs, tt.want.Regs) || len(got.Coils) != len(tt.want.Coils)) {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestExceptionErrors(t *testing.T) {
	var err error = IllegalDataAddress
	if got, want := err.Error(), "modbus exception 2 (illegal data address)"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if IllegalDataAddress.Retryable() {
		t.Error("illegal data address is retryable")
	}
	if !ServerDeviceBusy.Retryable() {
		t.Error("busy is not retryable")
	}
}

func TestInterFrameDelay(t *testing.T) {
	tests := []struct {
		baud int
		want time.Duration
	}{
		{9600, 4010416 * time.Nanosecond},  // 3.5 * 11 bits / 9600
		{19200, 2005208 * time.Nanosecond}, // 3.5 * 11 bits / 19200
		{38400, 1750 * time.Microsecond},   // fixed above 19200
		{115200, 1750 * time.Microsecond},
	}
	for _, tt := range tests {
		if got := InterFrameDelay(tt.baud); got != tt.want {
			t.Errorf("%d baud: got %v, want %v", tt.baud, got, tt.want)
		}
	}
}
