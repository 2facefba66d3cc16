package frame

import (
	"bytes"
	"testing"
)

func FuzzDecodeRTU(f *testing.F) {
	for _, g := range rtuGoldens {
		f.Add(g.frame)
	}
	for _, b := range badRTU {
		f.Add(b.frame)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		slave, p, err := DecodeRTU(b)
		if err != nil {
			return
		}
		// A frame that decodes re-encodes to itself.
		if got := EncodeRTU(slave, p); !bytes.Equal(got, b) {
			t.Fatalf("re-encoded % x as % x", b, got)
		}
		_, _ = RTUResponseLen(b) // must not panic; errors are expected
		_, _ = RTURequestLen(b)  // must not panic; errors are expected
	})
}

func FuzzDecodeTCP(f *testing.F) {
	for _, g := range tcpGoldens {
		f.Add(g.frame)
	}
	for _, b := range badTCP {
		f.Add(b.frame)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, p, err := DecodeTCP(b)
		if err != nil {
			return
		}
		if got := EncodeTCP(h.Transaction, h.Unit, p); !bytes.Equal(got, b) {
			t.Fatalf("re-encoded % x as % x", b, got)
		}
	})
}

func FuzzDecodeRequest(f *testing.F) {
	for _, g := range rtuGoldens {
		f.Add(g.pdu.Append(nil))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePDU(b)
		if err != nil {
			return
		}
		r, err := DecodeRequest(p)
		if err != nil {
			return
		}
		if int(r.Quantity) != len(r.Coils) && int(r.Quantity)*2 != len(r.Regs) && r.Function < WriteSingleCoil {
			// reads carry neither coils nor registers
			if len(r.Coils) != 0 || len(r.Regs) != 0 {
				t.Fatalf("read request %+v carries data", r)
			}
		}
	})
}

func FuzzParseReadResponse(f *testing.F) {
	for _, g := range rtuGoldens {
		f.Add(byte(g.pdu.Function), uint16(3), g.pdu.Append(nil))
	}
	f.Fuzz(func(t *testing.T, fc byte, qty uint16, b []byte) {
		resp, err := ParsePDU(b)
		if err != nil {
			return
		}
		req := ReadRequest(FunctionCode(fc), 0, qty)
		data, err := ParseReadResponse(req, resp)
		if err != nil {
			return
		}
		switch FunctionCode(fc) {
		case ReadCoils, ReadDiscreteInputs:
			if len(data) != (int(qty)+7)/8 {
				t.Fatalf("%d bytes for %d bits", len(data), qty)
			}
			_ = UnpackBits(data, int(qty))
		default:
			if len(data) != 2*int(qty) {
				t.Fatalf("%d bytes for %d registers", len(data), qty)
			}
		}
	})
}
