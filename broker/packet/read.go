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
// newly allocated for each packet, so decoded packets may keep it. A large
// body is allocated as its bytes arrive, not as declared: a peer that
// announces a large packet and sends little costs little.
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
	body, err = readBody(r, n)
	if err != nil {
		return 0, nil, fmt.Errorf("read packet body: %w", unexpectedEOF(err))
	}
	return first, body, nil
}

// bodyChunk is the most a body is allocated ahead of its bytes.
const bodyChunk = 4 << 10

// readBody reads n bytes, growing the buffer (doubling) as they arrive.
func readBody(r io.Reader, n int) ([]byte, error) {
	if n <= bodyChunk {
		body := make([]byte, n)
		_, err := io.ReadFull(r, body)
		return body, err
	}
	body := make([]byte, 0, bodyChunk)
	for len(body) < n {
		if len(body) == cap(body) {
			grown := make([]byte, len(body), min(n, 2*cap(body)))
			copy(grown, body)
			body = grown
		}
		k, err := r.Read(body[len(body):cap(body)])
		body = body[:len(body)+k]
		if err != nil && len(body) < n {
			return nil, err
		}
	}
	return body, nil
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
