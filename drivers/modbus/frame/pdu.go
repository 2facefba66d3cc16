package frame

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// FunctionCode is the first byte of a PDU (MBAP 6).
type FunctionCode byte

// The function codes the gateway uses (MBAP 6.1-6.12).
const (
	ReadCoils              FunctionCode = 0x01 // MBAP 6.1
	ReadDiscreteInputs     FunctionCode = 0x02 // MBAP 6.2
	ReadHoldingRegisters   FunctionCode = 0x03 // MBAP 6.3
	ReadInputRegisters     FunctionCode = 0x04 // MBAP 6.4
	WriteSingleCoil        FunctionCode = 0x05 // MBAP 6.5
	WriteSingleRegister    FunctionCode = 0x06 // MBAP 6.6
	WriteMultipleCoils     FunctionCode = 0x0F // MBAP 6.11
	WriteMultipleRegisters FunctionCode = 0x10 // MBAP 6.12

	exceptionFlag = 0x80 // MBAP 7: the function code of an exception response
)

// Spec limits on quantities and sizes.
const (
	MaxReadBits       = 2000 // MBAP 6.1, 6.2: quantity of coils / inputs 1..2000
	MaxReadRegisters  = 125  // MBAP 6.3, 6.4: quantity of registers 1..125
	MaxWriteBits      = 1968 // MBAP 6.11: quantity of outputs 1..0x7B0
	MaxWriteRegisters = 123  // MBAP 6.12: quantity of registers 1..0x7B
	MaxPDU            = 253  // MBAP 4.1: 256-byte serial ADU - address - CRC
)

// Decoding errors; they are wrapped with the detail that failed.
var (
	ErrShortFrame   = errors.New("frame too short")
	ErrBadLength    = errors.New("bad length")
	ErrBadCRC       = errors.New("bad crc")
	ErrBadProtocol  = errors.New("bad protocol id")
	ErrBadFunction  = errors.New("unexpected function code")
	ErrBadResponse  = errors.New("response does not match request")
	ErrBadQuantity  = errors.New("quantity out of range")
	ErrUnsupported  = errors.New("unsupported function code")
	ErrBadCoilValue = errors.New("coil value must be 0xFF00 or 0x0000")
)

// String names the function code.
func (f FunctionCode) String() string {
	switch f {
	case ReadCoils:
		return "read coils"
	case ReadDiscreteInputs:
		return "read discrete inputs"
	case ReadHoldingRegisters:
		return "read holding registers"
	case ReadInputRegisters:
		return "read input registers"
	case WriteSingleCoil:
		return "write single coil"
	case WriteSingleRegister:
		return "write single register"
	case WriteMultipleCoils:
		return "write multiple coils"
	case WriteMultipleRegisters:
		return "write multiple registers"
	}
	return fmt.Sprintf("function 0x%02x", byte(f))
}

// PDU is a protocol data unit: a function code and its data (MBAP 4.1).
type PDU struct {
	Function FunctionCode
	Data     []byte
}

// Append appends the encoded PDU to b.
func (p PDU) Append(b []byte) []byte {
	return append(append(b, byte(p.Function)), p.Data...)
}

// Len is the encoded length of the PDU.
func (p PDU) Len() int { return 1 + len(p.Data) }

// IsException reports whether p is an exception response.
func (p PDU) IsException() bool { return p.Function&exceptionFlag != 0 }

// ParsePDU splits b into function code and data. The data aliases b.
func ParsePDU(b []byte) (PDU, error) {
	if len(b) < 1 {
		return PDU{}, fmt.Errorf("pdu: %w", ErrShortFrame)
	}
	if len(b) > MaxPDU {
		return PDU{}, fmt.Errorf("pdu of %d bytes: %w", len(b), ErrBadLength)
	}
	return PDU{Function: FunctionCode(b[0]), Data: b[1:]}, nil
}

func u16(hi, lo byte) uint16 { return uint16(hi)<<8 | uint16(lo) }

// ReadRequest builds a read request for function 1-4: starting address and
// quantity (MBAP 6.1-6.4).
func ReadRequest(fc FunctionCode, addr, qty uint16) PDU {
	d := make([]byte, 4)
	binary.BigEndian.PutUint16(d, addr)
	binary.BigEndian.PutUint16(d[2:], qty)
	return PDU{Function: fc, Data: d}
}

// WriteSingleCoilRequest builds a function 5 request: ON is 0xFF00, OFF
// 0x0000 (MBAP 6.5).
func WriteSingleCoilRequest(addr uint16, on bool) PDU {
	v := uint16(0)
	if on {
		v = 0xFF00
	}
	d := make([]byte, 4)
	binary.BigEndian.PutUint16(d, addr)
	binary.BigEndian.PutUint16(d[2:], v)
	return PDU{Function: WriteSingleCoil, Data: d}
}

// WriteSingleRegisterRequest builds a function 6 request (MBAP 6.6); value is
// the register's two bytes, high byte first.
func WriteSingleRegisterRequest(addr uint16, value uint16) PDU {
	d := make([]byte, 4)
	binary.BigEndian.PutUint16(d, addr)
	binary.BigEndian.PutUint16(d[2:], value)
	return PDU{Function: WriteSingleRegister, Data: d}
}

// WriteMultipleCoilsRequest builds a function 15 request (MBAP 6.11): the
// first coil is the least significant bit of the first data byte.
func WriteMultipleCoilsRequest(addr uint16, coils []bool) (PDU, error) {
	if len(coils) < 1 || len(coils) > MaxWriteBits {
		return PDU{}, fmt.Errorf("write %d coils: %w", len(coils), ErrBadQuantity)
	}
	packed := PackBits(coils)
	d := make([]byte, 5, 5+len(packed))
	binary.BigEndian.PutUint16(d, addr)
	binary.BigEndian.PutUint16(d[2:], uint16(len(coils)))
	d[4] = byte(len(packed))
	return PDU{Function: WriteMultipleCoils, Data: append(d, packed...)}, nil
}

// WriteMultipleRegistersRequest builds a function 16 request (MBAP 6.12);
// regs holds the registers' bytes as they go on the wire (2 per register).
func WriteMultipleRegistersRequest(addr uint16, regs []byte) (PDU, error) {
	n := len(regs) / 2
	if len(regs)%2 != 0 || n < 1 || n > MaxWriteRegisters {
		return PDU{}, fmt.Errorf("write %d register bytes: %w", len(regs), ErrBadQuantity)
	}
	d := make([]byte, 5, 5+len(regs))
	binary.BigEndian.PutUint16(d, addr)
	binary.BigEndian.PutUint16(d[2:], uint16(n))
	d[4] = byte(len(regs))
	return PDU{Function: WriteMultipleRegisters, Data: append(d, regs...)}, nil
}

// PackBits packs bools LSB first into bytes (MBAP 6.1, 6.11).
func PackBits(bits []bool) []byte {
	out := make([]byte, (len(bits)+7)/8)
	for i, b := range bits {
		if b {
			out[i/8] |= 1 << (i % 8)
		}
	}
	return out
}

// UnpackBits unpacks n bools LSB first from packed.
func UnpackBits(packed []byte, n int) []bool {
	out := make([]bool, n)
	for i := range out {
		out[i] = packed[i/8]&(1<<(i%8)) != 0
	}
	return out
}

// CheckResponse returns the exception of an exception response to req, or an
// error when resp answers another function; nil when resp is a normal
// response to req's function.
func CheckResponse(req, resp PDU) error {
	switch resp.Function {
	case req.Function:
		return nil
	case req.Function | exceptionFlag:
		if len(resp.Data) != 1 {
			return fmt.Errorf("exception response of %d bytes: %w", resp.Len(), ErrBadLength)
		}
		return Exception(resp.Data[0])
	}
	return fmt.Errorf("%v answered with function 0x%02x: %w", req.Function, byte(resp.Function), ErrBadFunction)
}

// ParseReadResponse checks the response to a read request built by
// ReadRequest and returns its data bytes: packed bits for functions 1 and 2,
// register bytes (2 per register, high byte first) for 3 and 4. An exception
// response returns the Exception.
func ParseReadResponse(req, resp PDU) ([]byte, error) {
	if err := CheckResponse(req, resp); err != nil {
		return nil, err
	}
	if len(req.Data) != 4 {
		return nil, fmt.Errorf("request: %w", ErrBadLength)
	}
	qty := int(u16(req.Data[2], req.Data[3]))
	var want int
	switch req.Function {
	case ReadCoils, ReadDiscreteInputs:
		want = (qty + 7) / 8
	case ReadHoldingRegisters, ReadInputRegisters:
		want = 2 * qty
	default:
		return nil, fmt.Errorf("%v: %w", req.Function, ErrUnsupported)
	}
	if len(resp.Data) < 1 {
		return nil, fmt.Errorf("%v response: %w", req.Function, ErrShortFrame)
	}
	if int(resp.Data[0]) != want || len(resp.Data) != 1+want {
		return nil, fmt.Errorf("%v response: byte count %d and %d data bytes for quantity %d: %w",
			req.Function, resp.Data[0], len(resp.Data)-1, qty, ErrBadLength)
	}
	return resp.Data[1:], nil
}

// ParseWriteResponse checks the response to a write request: functions 5 and
// 6 echo the request, 15 and 16 echo its address and quantity (MBAP 6.5,
// 6.6, 6.11, 6.12).
func ParseWriteResponse(req, resp PDU) error {
	if err := CheckResponse(req, resp); err != nil {
		return err
	}
	if len(resp.Data) != 4 || len(req.Data) < 4 {
		return fmt.Errorf("%v response of %d bytes: %w", req.Function, resp.Len(), ErrBadLength)
	}
	if resp.Data[0] != req.Data[0] || resp.Data[1] != req.Data[1] ||
		resp.Data[2] != req.Data[2] || resp.Data[3] != req.Data[3] {
		return fmt.Errorf("%v: % x echoed as % x: %w", req.Function, req.Data[:4], resp.Data, ErrBadResponse)
	}
	return nil
}

// ExceptionResponse builds the exception response to function fc (MBAP 7).
func ExceptionResponse(fc FunctionCode, e Exception) PDU {
	return PDU{Function: fc | exceptionFlag, Data: []byte{byte(e)}}
}
