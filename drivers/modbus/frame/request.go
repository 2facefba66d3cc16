package frame

import "fmt"

// Request is a decoded request PDU, as a slave (the simulator) sees it.
type Request struct {
	Function FunctionCode
	Address  uint16
	Quantity uint16 // registers or bits read or written; 1 for functions 5 and 6
	Coils    []bool // values of function 5 (one) and 15
	Regs     []byte // register bytes of functions 6 and 16, high byte first
}

// DecodeRequest decodes a request PDU of function 1-6, 15 or 16. An invalid
// request returns the Exception a slave must answer with (MBAP 6, 7):
// IllegalFunction for other function codes, IllegalDataValue for a bad
// quantity, byte count or coil value.
func DecodeRequest(p PDU) (Request, error) {
	r := Request{Function: p.Function}
	d := p.Data
	switch p.Function {
	case ReadCoils, ReadDiscreteInputs, ReadHoldingRegisters, ReadInputRegisters,
		WriteSingleCoil, WriteSingleRegister:
		if len(d) != 4 {
			return r, fmt.Errorf("%v request of %d bytes: %w", p.Function, p.Len(), IllegalDataValue)
		}
	case WriteMultipleCoils, WriteMultipleRegisters:
		if len(d) < 5 || int(d[4]) != len(d)-5 {
			return r, fmt.Errorf("%v request of %d bytes: %w", p.Function, p.Len(), IllegalDataValue)
		}
	default:
		return r, fmt.Errorf("%v: %w", p.Function, IllegalFunction)
	}
	r.Address = u16(d[0], d[1])
	v := u16(d[2], d[3])
	switch p.Function {
	case ReadCoils, ReadDiscreteInputs:
		if v < 1 || v > MaxReadBits {
			return r, fmt.Errorf("%v quantity %d: %w", p.Function, v, IllegalDataValue)
		}
		r.Quantity = v
	case ReadHoldingRegisters, ReadInputRegisters:
		if v < 1 || v > MaxReadRegisters {
			return r, fmt.Errorf("%v quantity %d: %w", p.Function, v, IllegalDataValue)
		}
		r.Quantity = v
	case WriteSingleCoil:
		if v != 0xFF00 && v != 0 {
			return r, fmt.Errorf("coil value 0x%04x: %w", v, IllegalDataValue)
		}
		r.Quantity = 1
		r.Coils = []bool{v == 0xFF00}
	case WriteSingleRegister:
		r.Quantity = 1
		r.Regs = d[2:4]
	case WriteMultipleCoils:
		if v < 1 || v > MaxWriteBits || int(d[4]) != (int(v)+7)/8 {
			return r, fmt.Errorf("%v quantity %d byte count %d: %w", p.Function, v, d[4], IllegalDataValue)
		}
		r.Quantity = v
		r.Coils = UnpackBits(d[5:], int(v))
	case WriteMultipleRegisters:
		if v < 1 || v > MaxWriteRegisters || int(d[4]) != 2*int(v) {
			return r, fmt.Errorf("%v quantity %d byte count %d: %w", p.Function, v, d[4], IllegalDataValue)
		}
		r.Quantity = v
		r.Regs = d[5:]
	}
	return r, nil
}

// ReadBitsResponse builds the response to function 1 or 2 (MBAP 6.1, 6.2).
func ReadBitsResponse(fc FunctionCode, bits []bool) PDU {
	packed := PackBits(bits)
	return PDU{Function: fc, Data: append([]byte{byte(len(packed))}, packed...)}
}

// ReadRegistersResponse builds the response to function 3 or 4 (MBAP 6.3,
// 6.4) from register bytes, high byte first.
func ReadRegistersResponse(fc FunctionCode, regs []byte) PDU {
	return PDU{Function: fc, Data: append([]byte{byte(len(regs))}, regs...)}
}

// WriteResponse builds the normal response to a write request: the echo of
// its first four data bytes (MBAP 6.5, 6.6, 6.11, 6.12).
func WriteResponse(req PDU) PDU {
	return PDU{Function: req.Function, Data: append([]byte(nil), req.Data[:4]...)}
}
