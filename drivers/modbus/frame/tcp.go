package frame

import (
	"encoding/binary"
	"fmt"
)

// MBAP header layout (TCP 3.1.3).
const (
	MBAPHeaderLen = 7                      // transaction id, protocol id, length, unit id
	MaxTCPFrame   = MBAPHeaderLen + MaxPDU // 260 bytes (TCP 4.2)
)

// Header is the MBAP header of a Modbus TCP frame (TCP 3.1.3).
type Header struct {
	Transaction uint16 // echoed by the server
	Protocol    uint16 // 0 for Modbus
	Length      uint16 // bytes that follow: unit id + PDU
	Unit        byte   // slave address behind a gateway, 0xFF when unused
}

// EncodeTCP builds a Modbus TCP frame: MBAP header and PDU.
func EncodeTCP(tid uint16, unit byte, p PDU) []byte {
	b := make([]byte, MBAPHeaderLen, MBAPHeaderLen+p.Len())
	binary.BigEndian.PutUint16(b, tid)
	binary.BigEndian.PutUint16(b[2:], 0)
	binary.BigEndian.PutUint16(b[4:], uint16(1+p.Len()))
	b[6] = unit
	return p.Append(b)
}

// DecodeHeader decodes and checks the 7-byte MBAP header: protocol id 0 and
// a length that holds a unit id and a PDU of 1..253 bytes.
func DecodeHeader(b []byte) (Header, error) {
	if len(b) < MBAPHeaderLen {
		return Header{}, fmt.Errorf("mbap header of %d bytes: %w", len(b), ErrShortFrame)
	}
	h := Header{
		Transaction: binary.BigEndian.Uint16(b),
		Protocol:    binary.BigEndian.Uint16(b[2:]),
		Length:      binary.BigEndian.Uint16(b[4:]),
		Unit:        b[6],
	}
	if h.Protocol != 0 {
		return h, fmt.Errorf("mbap protocol %d: %w", h.Protocol, ErrBadProtocol)
	}
	if h.Length < 2 || h.Length > 1+MaxPDU {
		return h, fmt.Errorf("mbap length %d: %w", h.Length, ErrBadLength)
	}
	return h, nil
}

// DecodeTCP decodes a whole Modbus TCP frame; its length must match the
// header's. The PDU data aliases b.
func DecodeTCP(b []byte) (Header, PDU, error) {
	h, err := DecodeHeader(b)
	if err != nil {
		return h, PDU{}, err
	}
	if got, want := len(b)-6, int(h.Length); got != want {
		return h, PDU{}, fmt.Errorf("mbap length %d with %d bytes following: %w", want, got, ErrBadLength)
	}
	p, err := ParsePDU(b[MBAPHeaderLen:])
	return h, p, err
}
