package frame

import (
	"fmt"
	"time"
)

// RTU framing limits (Serial 2.5.1).
const (
	MaxRTUFrame = 256 // address + 253-byte PDU + 2-byte CRC
	minRTUFrame = 4   // address + function + CRC
)

// CRC16 computes the Modbus CRC-16 of b: initial value 0xFFFF, reflected
// polynomial 0xA001 (Serial 6.2.2). It goes on the wire low byte first.
func CRC16(b []byte) uint16 {
	crc := uint16(0xFFFF)
	for _, c := range b {
		crc ^= uint16(c)
		for range 8 {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0xA001
			} else {
				crc >>= 1
			}
		}
	}
	return crc
}

// EncodeRTU builds an RTU frame: slave address, PDU, CRC low byte then high
// byte (Serial 2.5.1).
func EncodeRTU(slave byte, p PDU) []byte {
	b := make([]byte, 0, 3+p.Len())
	b = p.Append(append(b, slave))
	crc := CRC16(b)
	return append(b, byte(crc), byte(crc>>8))
}

// DecodeRTU checks the length and CRC of an RTU frame and splits it into
// slave address and PDU. The PDU data aliases b.
func DecodeRTU(b []byte) (slave byte, p PDU, err error) {
	if len(b) < minRTUFrame {
		return 0, PDU{}, fmt.Errorf("rtu frame of %d bytes: %w", len(b), ErrShortFrame)
	}
	if len(b) > MaxRTUFrame {
		return 0, PDU{}, fmt.Errorf("rtu frame of %d bytes: %w", len(b), ErrBadLength)
	}
	n := len(b) - 2
	if got, want := uint16(b[n])|uint16(b[n+1])<<8, CRC16(b[:n]); got != want {
		return 0, PDU{}, fmt.Errorf("rtu frame crc 0x%04x, computed 0x%04x: %w", got, want, ErrBadCRC)
	}
	p, err = ParsePDU(b[1:n])
	return b[0], p, err
}

// RTUResponseLen returns the full length of an RTU response frame from its
// first bytes (address, function, and for reads the byte count), or 0 when
// head is too short to tell. Reads (1-4) are 5 + byte count, writes (5, 6,
// 15, 16) 8, and exceptions 5 bytes.
func RTUResponseLen(head []byte) (int, error) {
	if len(head) < 2 {
		return 0, nil
	}
	fc := FunctionCode(head[1])
	if fc&exceptionFlag != 0 {
		return 5, nil
	}
	switch fc {
	case ReadCoils, ReadDiscreteInputs, ReadHoldingRegisters, ReadInputRegisters:
		if len(head) < 3 {
			return 0, nil
		}
		return 5 + int(head[2]), nil
	case WriteSingleCoil, WriteSingleRegister, WriteMultipleCoils, WriteMultipleRegisters:
		return 8, nil
	}
	return 0, fmt.Errorf("rtu response %v: %w", fc, ErrUnsupported)
}

// RTURequestLen returns the full length of an RTU request frame from its
// first bytes, or 0 when head is too short to tell: 8 for functions 1-6,
// 9 + byte count for 15 and 16.
func RTURequestLen(head []byte) (int, error) {
	if len(head) < 2 {
		return 0, nil
	}
	fc := FunctionCode(head[1])
	switch fc {
	case ReadCoils, ReadDiscreteInputs, ReadHoldingRegisters, ReadInputRegisters,
		WriteSingleCoil, WriteSingleRegister:
		return 8, nil
	case WriteMultipleCoils, WriteMultipleRegisters:
		if len(head) < 7 {
			return 0, nil
		}
		return 9 + int(head[6]), nil
	}
	return 0, fmt.Errorf("rtu request %v: %w", fc, ErrUnsupported)
}

// BitsPerChar is the length of one RTU character on the wire: start bit, 8
// data bits, parity bit and stop bit, or no parity and 2 stop bits
// (Serial 2.5.1). With no parity and 1 stop bit a character is 10 bits.
func BitsPerChar(parity bool, stopBits int) int {
	n := 1 + 8 + stopBits
	if parity {
		n++
	}
	return n
}

// CharTime is the time one character of bits bits takes at baud.
func CharTime(baud, bits int) time.Duration {
	return time.Duration(bits) * time.Second / time.Duration(baud)
}

// InterFrameDelay is the silence that separates RTU frames: 3.5 character
// times, fixed at 1.75 ms above 19200 baud (Serial 2.5.1.1).
func InterFrameDelay(baud int) time.Duration {
	if baud > 19200 {
		return 1750 * time.Microsecond
	}
	return 77 * time.Second / time.Duration(2*baud) // 3.5 * 11 bits
}

// WireTime is the time n bytes take on a serial line at baud with
// characters of bits bits.
func WireTime(n, baud, bits int) time.Duration {
	return time.Duration(n) * CharTime(baud, bits)
}
