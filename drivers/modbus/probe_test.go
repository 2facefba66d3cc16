package modbus_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgegw/gateway/drivers/modbus"
	"github.com/edgegw/gateway/drivers/modbus/frame"
	"github.com/edgegw/gateway/drivers/modbus/modbussim"
)

func TestProbeMain(t *testing.T) {
	sim := modbussim.New(discard())
	sim.Do(func(st *modbussim.Store) {
		// 123.456 as float32 word-swapped (CDAB): 0x42F6E979 -> e979 42f6
		st.Holding[100], st.Holding[101], st.Holding[102], st.Holding[103] = 0xE979, 0x42F6, 0x4142, 0x4344
	})
	addr := startSim(t, sim)
	var out, errOut strings.Builder
	err := modbus.ProbeMain(t.Context(), []string{"modbus-tcp", addr, "--slave", "1", "--holding", "100", "--count", "4"}, &out, &errOut)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	got := out.String()
	for _, want := range []string{
		"slave 1 holding 100..103",
		"raw: e9 79 42 f6 41 42 43 44",
		`ascii: ".yB.ABCD"`,
		"123.456", // float32 CDAB
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
	// The first float32 row (address 100) has 123.456 in the CDAB column.
	for _, line := range strings.Split(got, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == "float32" {
			if f[len(f)-1] != "123.456" {
				t.Errorf("float32 row of address 100: %q", line)
			}
			break
		}
	}
	t.Log("\n" + got)
}

func TestProbeErrors(t *testing.T) {
	addr := startSim(t, modbussim.New(discard()))
	err := modbus.ProbeMain(t.Context(), []string{"modbus-tcp", addr, "--holding", "65535", "--count", "1", "--input", "3"}, new(strings.Builder), new(strings.Builder))
	if err == nil || !strings.Contains(err.Error(), "exactly one of") {
		t.Errorf("two kinds: %v", err)
	}

	// Arguments past the address space.
	err = modbus.ProbeMain(t.Context(), []string{"modbus-tcp", addr, "--holding", "65535", "--count", "2"}, new(strings.Builder), new(strings.Builder))
	if err == nil || !strings.Contains(err.Error(), "past 65535") {
		t.Errorf("past the end: %v", err)
	}
	tbl, err := modbus.Probe(t.Context(), modbus.NewClient(modbus.NewTCPTransport(addr, discard()), 1e9, 0), 1, modbus.Holding, 0, 126)
	if err == nil {
		t.Errorf("126 registers: %+v", tbl)
	}

	// A timeout names what to check.
	silent := silentServer(t)
	err = modbus.ProbeMain(t.Context(), []string{"modbus-tcp", silent, "--holding", "0", "--timeout", "50ms"}, new(strings.Builder), new(strings.Builder))
	if !errors.Is(err, modbus.ErrTimeout) || !strings.Contains(err.Error(), "hint: no answer: check the slave id") {
		t.Errorf("timeout: %v", err)
	}
}

func TestProbeException(t *testing.T) {
	py := startPymodbus(t, "tcp")
	py.do("set 1 hr 10 1,2")
	err := modbus.ProbeMain(t.Context(), []string{"modbus-tcp", "127.0.0.1:" + py.port, "--holding", "299", "--count", "4"}, new(strings.Builder), new(strings.Builder))
	var ex frame.Exception
	if !errors.As(err, &ex) || ex != frame.IllegalDataAddress || !strings.Contains(err.Error(), "hint: the slave has no such register") {
		t.Errorf("got %v", err)
	}
	var out strings.Builder
	if err := modbus.ProbeMain(t.Context(), []string{"modbus-tcp", "127.0.0.1:" + py.port, "--holding", "10", "--count", "2"}, &out, new(strings.Builder)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "65538") { // uint32 ABCD of 0001 0002
		t.Errorf("probe of pymodbus:\n%s", out.String())
	}
}

func TestProbePermissionDenied(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root opens any file")
	}
	p := filepath.Join(t.TempDir(), "ttyS9")
	if err := os.WriteFile(p, nil, 0o000); err != nil {
		t.Fatal(err)
	}
	err := modbus.ProbeMain(context.Background(), []string{"modbus-rtu", p, "--holding", "0"}, new(strings.Builder), new(strings.Builder))
	if !errors.Is(err, modbus.ErrPermission) || !strings.Contains(err.Error(), "dialout") {
		t.Errorf("got %v", err)
	}
}
