package modbus_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/gateway"
	"github.com/edgegw/gateway/drivers/modbus"
	"github.com/edgegw/gateway/drivers/modbus/frame"
)

// typeCase is one type in one byte order at one address, with the value
// pymodbus' payload builder stores there and the value we must read.
type typeCase struct {
	typ, order string
	addr       int
	text       string // the value as pymodbus parses it
	want       gateway.Value
	write      gateway.Value // a different value to write back
}

func typeCases() []typeCase {
	vals := []struct {
		typ         string
		text        string
		want, write gateway.Value
	}{
		{"int16", "-1234", gateway.Int(-1234), gateway.Int(31000)},
		{"uint16", "54321", gateway.Uint(54321), gateway.Uint(7)},
		{"int32", "-123456789", gateway.Int(-123456789), gateway.Int(2000000001)},
		{"uint32", "3000000000", gateway.Uint(3000000000), gateway.Uint(65537)},
		{"int64", "-1234567890123456789", gateway.Int(-1234567890123456789), gateway.Int(987654321987654321)},
		{"uint64", "18000000000000000000", gateway.Uint(18000000000000000000), gateway.Uint(1 << 40)},
		{"float32", "3.14", gateway.Float(3.14), gateway.Float(-0.25)}, // float32s are published in their shortest decimal form
		{"float64", "6.02214076e23", gateway.Float(6.02214076e23), gateway.Float(-1.0 / 3)},
	}
	var out []typeCase
	addr := 0
	for _, v := range vals {
		for _, o := range []string{"ABCD", "DCBA", "BADC", "CDAB"} {
			out = append(out, typeCase{v.typ, o, addr, v.text, v.want, v.write})
			addr += 4
		}
	}
	return out
}

func pointName(kind string, c typeCase) string { return kind + "-" + c.typ + "-" + c.order }

// everyTypeConfig is a device with every type in every byte order in both
// holding and input registers, coils 0-4, discrete inputs 0-2, a string at
// holding 200 and bits 3 and 2 of holding 210.
func everyTypeConfig(name string, slave int) modbus.Config {
	cfg := modbus.Default()
	cfg.Name, cfg.SlaveID = name, slave
	cfg.Timeout, cfg.Retries = 500*time.Millisecond, 1
	for _, c := range typeCases() {
		for _, kind := range []string{"holding", "input"} {
			cfg.Points = append(cfg.Points, modbus.PointConfig{Name: pointName(kind, c), Register: kind,
				Address: c.addr, Type: c.typ, ByteOrder: c.order, Writable: kind == "holding"})
		}
	}
	for i := range 5 {
		cfg.Points = append(cfg.Points, modbus.PointConfig{Name: fmt.Sprintf("coil-%d", i), Register: "coil", Address: i, Writable: true})
	}
	for i := range 3 {
		cfg.Points = append(cfg.Points, modbus.PointConfig{Name: fmt.Sprintf("discrete-%d", i), Register: "discrete", Address: i})
	}
	cfg.Points = append(cfg.Points,
		modbus.PointConfig{Name: "string", Register: "holding", Address: 200, Type: "string", Length: 5, Writable: true},
		modbus.PointConfig{Name: "bit3", Register: "holding", Address: 210, Type: "bit", Bit: 3, Writable: true},
		modbus.PointConfig{Name: "bit2", Register: "holding", Address: 210, Type: "bit", Bit: 2},
		modbus.PointConfig{Name: "scaled", Register: "input", Address: 220, Type: "int16", Scale: 0.1, Offset: 100, Unit: "kPa"},
	)
	return cfg
}

// loadEveryType stores the values of everyTypeConfig in pymodbus slave.
func loadEveryType(py *pymodbus, slave int) map[string]gateway.Value {
	want := map[string]gateway.Value{}
	for _, c := range typeCases() {
		for _, kind := range []string{"hr", "ir"} {
			py.do("encode %d %s %d %s %s %s", slave, kind, c.addr, c.typ, c.order, c.text)
		}
		want[pointName("holding", c)] = c.want
		want[pointName("input", c)] = c.want
	}
	py.do("set %d co 0 1,0,1,1,0", slave)
	py.do("set %d di 0 0,1,1", slave)
	py.do("string %d hr 200 5 hello", slave)
	py.do("set %d hr 210 8", slave)     // bit 3
	py.do("set %d ir 220 65526", slave) // -10 -> -1 + 100
	for i, b := range []bool{true, false, true, true, false} {
		want[fmt.Sprintf("coil-%d", i)] = gateway.Bool(b)
	}
	for i, b := range []bool{false, true, true} {
		want[fmt.Sprintf("discrete-%d", i)] = gateway.Bool(b)
	}
	want["string"] = gateway.String("hello")
	want["bit3"] = gateway.Bool(true)
	want["bit2"] = gateway.Bool(false)
	want["scaled"] = gateway.Float(99)
	return want
}

func checkReadings(t *testing.T, rs []gateway.Reading, want map[string]gateway.Value) {
	t.Helper()
	if len(rs) != len(want) {
		t.Errorf("got %d readings, want %d", len(rs), len(want))
	}
	for _, r := range rs {
		if r.Quality != gateway.QualityGood {
			t.Errorf("%s: quality %v: %v", r.Point, r.Quality, r.Err)
			continue
		}
		w, ok := want[r.Point]
		if !ok {
			t.Errorf("unexpected point %s", r.Point)
			continue
		}
		if w.Kind() == gateway.KindFloat && r.Point == "scaled" {
			g, _ := r.Value.Float64()
			f, _ := w.Float64()
			if math.Abs(g-f) > 1e-9 {
				t.Errorf("%s: got %v, want %v", r.Point, r.Value, w)
			}
			continue
		}
		if !r.Value.Equal(w) {
			t.Errorf("%s: got %#v, want %#v", r.Point, r.Value, w)
		}
	}
}

// checkWrites writes through the driver and reads back through pymodbus.
func checkWrites(t *testing.T, ctx context.Context, d *modbus.Device, py *pymodbus, slave int) {
	t.Helper()
	for _, c := range typeCases() {
		if err := d.WritePoint(ctx, pointName("holding", c), c.write); err != nil {
			t.Fatalf("write %s: %v", pointName("holding", c), err)
		}
		got := py.do("decode %d hr %d %s %s", slave, c.addr, c.typ, c.order)
		if want := pyRepr(c.write); got != want {
			t.Errorf("%s: pymodbus decodes %s, want %s", pointName("holding", c), got, want)
		}
	}
	if err := d.WritePoint(ctx, "coil-1", gateway.Bool(true)); err != nil { // FC 5
		t.Fatal(err)
	}
	if got := py.do("get %d co 0 5", slave); got != "1,1,1,1,0" {
		t.Errorf("coils after FC 5: %s", got)
	}
	if err := d.Client().WriteCoils(ctx, byte(slave), 0, []bool{false, false, true, false, true}); err != nil { // FC 15
		t.Fatal(err)
	}
	if got := py.do("get %d co 0 5", slave); got != "0,0,1,0,1" {
		t.Errorf("coils after FC 15: %s", got)
	}
	if err := d.WritePoint(ctx, "string", gateway.String("PUMP")); err != nil { // FC 16
		t.Fatal(err)
	}
	if got := py.do("get %d hr 200 5", slave); got != "20565,19792,0,0,0" { // "PU" "MP"
		t.Errorf("string registers: %s", got)
	}
	if err := d.WritePoint(ctx, "bit3", gateway.Bool(false)); err != nil { // FC 3 + FC 6
		t.Fatal(err)
	}
	if got := py.do("get %d hr 210 1", slave); got != "0" {
		t.Errorf("bit register after clearing bit 3: %s", got)
	}
	if err := d.WritePoint(ctx, "input-int16-ABCD", gateway.Int(1)); !errors.Is(err, gateway.ErrNotWritable) {
		t.Errorf("write input register: got %v, want ErrNotWritable", err)
	}
}

// pyRepr formats v as Python's repr prints it: floats keep a ".0" and
// use exponents from 1e16 on, like Go's 'g' with shortest precision does for
// the values in typeCases.
func pyRepr(v gateway.Value) string {
	if v.Kind() != gateway.KindFloat {
		return v.String()
	}
	f, _ := v.Float64()
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".e") {
		s += ".0"
	}
	return s
}

func TestPymodbusTCP(t *testing.T) {
	py := startPymodbus(t, "tcp")
	want := loadEveryType(py, 1)
	cfg := everyTypeConfig("plc", 1)
	cfg.Driver, cfg.Address = modbus.DriverTCP, "127.0.0.1:"+py.port
	d := newDevice(t, cfg)
	// holding 0-127: 2 requests (125 max); input 0-127 + 220: 3; string 200-204 with bits 210: 1;
	// coils: 1; discrete: 1.
	if got, want := d.Requests(), 8; got != want {
		t.Errorf("requests per poll: got %d, want %d", got, want)
	}
	rs, err := d.Poll(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	checkReadings(t, rs, want)
	checkWrites(t, t.Context(), d, py, 1)

	// An exception answer: past the end of pymodbus' 300 registers.
	_, err = d.Client().Read(t.Context(), 1, modbus.Holding, 299, 2)
	var ex frame.Exception
	if !errors.As(err, &ex) || ex != frame.IllegalDataAddress {
		t.Errorf("read past the end: got %v, want illegal data address", err)
	}

	// A unit id pymodbus does not serve gets no answer: a timeout.
	silent := modbus.NewClient(d.Client().Transport(), 100*time.Millisecond, 0)
	if _, err := silent.Read(t.Context(), 9, modbus.Holding, 0, 1); !errors.Is(err, modbus.ErrTimeout) {
		t.Errorf("unit 9: got %v, want timeout", err)
	}
	// The connection stays usable (the late answer never comes; ids keep it in step).
	if _, err := d.Client().Read(t.Context(), 1, modbus.Holding, 0, 1); err != nil {
		t.Errorf("read after a timeout: %v", err)
	}
}
