package serialline

import "bytes"

// splitter cuts a byte stream into lines of at most max bytes. It is pure:
// the driver feeds it what the port delivers and it calls back for each
// complete line and for each over-long line it drops.
type splitter struct {
	term    byte // ends a line
	stripCR bool // drop one "\r" before the terminator
	max     int  // the longest line kept, in bytes without the terminator

	buf      []byte
	dropping bool // inside an over-long line: discard up to the next terminator
}

func newSplitter(term byte, stripCR bool, max int) *splitter {
	return &splitter{term: term, stripCR: stripCR, max: max, buf: make([]byte, 0, min(max+1, 4096))}
}

// feed consumes p. line receives each complete line without its terminator
// (the slice is only valid during the call); tooLong is called once per line
// longer than max, when the limit is passed.
func (s *splitter) feed(p []byte, line func([]byte), tooLong func()) {
	for len(p) > 0 {
		i := bytes.IndexByte(p, s.term)
		chunk := p
		if i >= 0 {
			chunk = p[:i]
		}
		if !s.dropping {
			// Keep one byte over max so that a "\r" before the
			// terminator does not count against the limit.
			room := s.max + 1 - len(s.buf)
			if len(chunk) > room {
				s.buf = s.buf[:0]
				s.dropping = true
				tooLong()
			} else {
				s.buf = append(s.buf, chunk...)
			}
		}
		if i < 0 {
			return
		}
		p = p[i+1:]
		if s.dropping {
			s.dropping = false
			continue
		}
		b := s.buf
		if s.stripCR && len(b) > 0 && b[len(b)-1] == '\r' {
			b = b[:len(b)-1]
		}
		s.buf = s.buf[:0]
		if len(b) > s.max {
			tooLong()
			continue
		}
		line(b)
	}
}

// reset drops a pending line and reports whether there was one (a partial
// line cut off when the port went away).
func (s *splitter) reset() (partial bool) {
	partial = len(s.buf) > 0 && !s.dropping
	s.buf = s.buf[:0]
	s.dropping = false
	return partial
}
