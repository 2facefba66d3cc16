package modbus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/edgegw/gateway/drivers/modbus/frame"
)

// ProbeRow is one interpretation of the registers starting at Address.
type ProbeRow struct {
	Address uint16
	Hex     string // the register at Address, as on the wire
	Type    Type
	Values  [4]string // in the order of ByteOrders: ABCD, DCBA, BADC, CDAB
}

// ProbeTable is what Probe read and every way to read it.
type ProbeTable struct {
	Slave   byte
	Kind    Register
	Address uint16
	Count   uint16
	Raw     []byte // register bytes as on the wire (registers only)
	Bits    []bool // coils and discrete inputs
	Rows    []ProbeRow
}

// probeTypes are the interpretations a probe prints, narrowest first.
var probeTypes = []Type{TypeInt16, TypeUint16, TypeInt32, TypeUint32, TypeFloat32, TypeInt64, TypeUint64, TypeFloat64}

// Probe reads count registers (or bits) of kind at addr from slave and
// decodes them as every type in every byte order, so that a user can spot
// the right combination. Each multi-register type starts at every address
// where it fits.
func Probe(ctx context.Context, c *Client, slave byte, kind Register, addr, count uint16) (ProbeTable, error) {
	t := ProbeTable{Slave: slave, Kind: kind, Address: addr, Count: count}
	if count < 1 || int(count) > kind.maxRead() {
		return t, fmt.Errorf("probe: count %d: want 1..%d for %v", count, kind.maxRead(), kind)
	}
	data, err := c.Read(ctx, slave, kind, addr, count)
	if err != nil {
		return t, err
	}
	if kind.IsBit() {
		t.Bits = frame.UnpackBits(data, int(count))
		return t, nil
	}
	t.Raw = data
	for i := range int(count) {
		for _, typ := range probeTypes {
			n := typ.Registers(0)
			if i+n > int(count) {
				continue
			}
			row := ProbeRow{Address: addr + uint16(i), Hex: fmt.Sprintf("%02x%02x", data[2*i], data[2*i+1]), Type: typ}
			for j, o := range ByteOrders {
				codec, err := NewCodec(typ, o, 0, 0, 1, 0)
				if err != nil {
					return t, err
				}
				v := codec.Decode(data[2*i : 2*(i+n)])
				if typ == TypeFloat32 {
					f, _ := v.Float64()
					row.Values[j] = strconv.FormatFloat(f, 'g', 7, 32)
				} else if typ == TypeFloat64 {
					f, _ := v.Float64()
					row.Values[j] = strconv.FormatFloat(f, 'g', 10, 64)
				} else {
					row.Values[j] = v.String()
				}
			}
			t.Rows = append(t.Rows, row)
		}
	}
	return t, nil
}

// WriteProbeTable prints t as an aligned table.
func WriteProbeTable(w io.Writer, t ProbeTable) error {
	var b strings.Builder
	last := int(t.Address) + int(t.Count) - 1
	fmt.Fprintf(&b, "slave %d %v %d..%d\n", t.Slave, t.Kind, t.Address, last)
	if t.Bits != nil {
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "address\tvalue")
		for i, v := range t.Bits {
			fmt.Fprintf(tw, "%d\t%v\n", int(t.Address)+i, v)
		}
		tw.Flush()
		_, err := io.WriteString(w, b.String())
		return err
	}
	fmt.Fprintf(&b, "raw: % x\n", t.Raw)
	fmt.Fprintf(&b, "ascii: %q\n", printable(t.Raw))
	fmt.Fprintf(&b, "(16-bit types only know a byte swap: ABCD = CDAB, DCBA = BADC; 64-bit orders are ABCDEFGH, HGFEDCBA, BADCFEHG, GHEFCDAB)\n\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "address\thex\ttype\tABCD\tDCBA\tBADC\tCDAB\t")
	prev := -1
	for _, r := range t.Rows {
		addr, hex := "", ""
		if int(r.Address) != prev {
			addr, hex = strconv.Itoa(int(r.Address)), r.Hex
			prev = int(r.Address)
		}
		fmt.Fprintf(tw, "%s\t%s\t%v\t%s\t%s\t%s\t%s\t\n", addr, hex, r.Type, r.Values[0], r.Values[1], r.Values[2], r.Values[3])
	}
	tw.Flush()
	_, err := io.WriteString(w, b.String())
	return err
}

func printable(b []byte) string {
	out := make([]byte, len(b))
	for i, c := range b {
		if c >= 0x20 && c < 0x7F {
			out[i] = c
		} else {
			out[i] = '.'
		}
	}
	return string(out)
}

// ProbeHint explains a probe failure in terms of what to check.
func ProbeHint(err error) string {
	var ex frame.Exception
	switch {
	case errors.Is(err, ErrPermission):
		return "the serial port is not accessible to this user: add it to group dialout (sudo usermod -aG dialout $USER) and log in again"
	case errors.Is(err, ErrTimeout):
		return "no answer: check the slave id, the wiring (RS-485 A/B swapped?), baud, parity and stop bits, and that nothing else polls the bus"
	case errors.As(err, &ex) && ex == frame.IllegalDataAddress:
		return "the slave has no such register: addresses are 0-based (register 40001 is holding 0); try one lower, or a smaller --count"
	case errors.As(err, &ex) && ex == frame.IllegalFunction:
		return "the slave does not support this register kind: try --input instead of --holding (or the other way round)"
	case errors.As(err, &ex):
		return "the slave answered with an exception"
	case errors.Is(err, ErrUnavailable):
		return "could not reach the device: check the address or port"
	}
	return ""
}
