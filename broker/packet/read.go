package packet

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// ReadFrame reads one fixed header and the remaining bytes of a packet from
// r. A packet larger than maxSize bytes in total (0: no limit beyond the
// protocol's) is not read and gives an error wrapping ErrTooLarge. body is
// newly allocated for each packet, so decoded packets may keep it.
func ReadFrame(r *bufio.Reader, maxSize int) (first byte, body []byte, err error) {
	first, err = r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, hdr, err := readVarint(r)
	if err != nil {
		return 0, nil, err
	}
	if maxSize > 0 && 1+hdr+n > maxSize {
		return 0, nil, fmt.Errorf("read packet: %d bytes over limit %d: %w", 1+hdr+n, maxSize, ErrTooLarge)
	}
	body = make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, nil, fmt.Errorf("read packet body: %w", unexpectedEOF(err))
	}
	return first, body, nil
}

// Read reads and decodes one packet (see ReadFrame and Decode).
func Read(r *bufio.Reader, maxSize int) (Packet, error) {
	first, body, err := ReadFrame(r, maxSize)
	if err != nil {
		return nil, err
	}
	return Decode(first, body)
}

// readVarint reads a remaining length (section 2.2.3): at most four bytes.
func readVarint(r io.ByteReader) (n, size int, err error) {
	shift := 0
	for size = 1; ; size++ {
		b, err := r.ReadByte()
		if err != nil {
			return 0, 0, fmt.Errorf("read remaining length: %w", unexpectedEOF(err))
		}
		n |= int(b&0x7f) << shift
		if b&0x80 == 0 {
			return n, size, nil
		}
		if size == 4 {
			return 0, 0, fmt.Errorf("remaining length over 4 bytes: %w", ErrMalformed)
		}
		shift += 7
	}
}

// DecodeVarint decodes a remaining length from the start of b and returns
// it with the number of bytes it used.
func DecodeVarint(b []byte) (n, size int, err error) {
	shift := 0
	for i := 0; i < len(b) && i < 4; i++ {
		n |= int(b[i]&0x7f) << shift
		if b[i]&0x80 == 0 {
			return n, i + 1, nil
		}
		shift += 7
	}
	if len(b) >= 4 {
		return 0, 0, fmt.Errorf("remaining length over 4 bytes: %w", ErrMalformed)
	}
	return 0, 0, fmt.Errorf("remaining length: %w", io.ErrUnexpectedEOF)
}

func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
