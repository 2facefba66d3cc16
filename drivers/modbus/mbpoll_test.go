package modbus_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/gateway/drivers/modbus/modbussim"
)

// TestSimulatorWithMbpoll checks the simulator against an independent
// master, mbpoll (libmodbus), over TCP: reads of every kind and a write.
func TestSimulatorWithMbpoll(t *testing.T) {
	needTool(t, "mbpoll", "-V")
	sim := modbussim.NewDemo(discard())
	addr := startSim(t, sim)
	host, port, _ := strings.Cut(addr, ":")
	// run polls once with options opts; values (after the host) are written.
	run := func(opts []string, values ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, "mbpoll", append(append([]string{"-m", "tcp", "-p", port, "-a", "1", "-0", "-1", "-o", "2"}, opts...), append([]string{host}, values...)...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("mbpoll %v %v: %v\n%s", opts, values, err, out)
		}
		return string(out)
	}
	if out := run([]string{"-t", "4", "-r", "10", "-c", "4"}); !strings.Contains(out, "[10]: \t17732") { // "ED"
		t.Errorf("holding 10 (model):\n%s", out)
	}
	if out := run([]string{"-t", "4", "-r", "0"}); !strings.Contains(out, "[0]: \t215") {
		t.Errorf("holding 0 (setpoint):\n%s", out)
	}
	run([]string{"-t", "4", "-r", "5"}, "64302") // FC 6: -1234 as uint16
	sim.Do(func(st *modbussim.Store) {
		if st.Holding[5] != uint16(0x10000-1234) {
			t.Errorf("holding 5 after mbpoll write: %d", st.Holding[5])
		}
	})
	if out := run([]string{"-t", "3:float", "-B", "-r", "0"}); !strings.Contains(out, "[0]: \t") {
		t.Errorf("input 0 (temperature):\n%s", out)
	}
	run([]string{"-t", "0", "-r", "1"}, "1") // FC 5
	sim.Do(func(st *modbussim.Store) {
		if !st.Coils[1] {
			t.Error("coil 1 not set by mbpoll")
		}
	})
	if out := run([]string{"-t", "1", "-r", "0", "-c", "1"}); !strings.Contains(out, "[0]: \t") {
		t.Errorf("discrete 0:\n%s", out)
	}
}
