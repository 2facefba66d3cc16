package modbus_test

import (
	"bufio"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const python = "/usr/bin/python3"

// needTool skips a -short run when an external program is missing; a full
// run fails instead (CI installs it).
func needTool(t *testing.T, path string, args ...string) {
	t.Helper()
	if err := exec.Command(path, args...).Run(); err != nil {
		if testing.Short() {
			t.Skipf("%s unavailable: %v", path, err)
		}
		t.Fatalf("%s unavailable (install socat and python3-pymodbus): %v", path, err)
	}
}

// pymodbus is a running testdata/pymodbus_server.py.
type pymodbus struct {
	t      *testing.T
	cmd    *exec.Cmd
	in     io.WriteCloser
	lines  chan string
	port   string // tcp only
	stopFn func()
}

// startPymodbus starts the pymodbus slave with args ("tcp" or "rtu PATH
// BAUD PARITY"), waits for its READY line and stops it in t.Cleanup.
func startPymodbus(t *testing.T, args ...string) *pymodbus {
	t.Helper()
	needTool(t, python, "-c", "import pymodbus.server, serial_asyncio")
	cmd := exec.Command(python, append([]string{"testdata/pymodbus_server.py"}, args...)...)
	cmd.Stderr = &testWriter{t: t, prefix: "pymodbus: "}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &pymodbus{t: t, cmd: cmd, in: in, lines: make(chan string)}
	exited := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	go func() {
		_ = cmd.Wait() // the exit status of a stopped helper does not matter
		close(exited)
	}()
	t.Cleanup(func() { p.stop(exited) })
	line := p.line(10 * time.Second)
	f := strings.Fields(line)
	if len(f) == 0 || f[0] != "READY" {
		t.Fatalf("pymodbus %v: got %q, want READY", args, line)
	}
	if len(f) > 1 {
		p.port = f[1]
	}
	p.stopFn = func() { p.stop(exited) }
	return p
}

func (p *pymodbus) stop(exited chan struct{}) {
	_ = p.in.Close() // makes the server exit
	select {
	case <-exited:
	case <-time.After(3 * time.Second):
		_ = p.cmd.Process.Kill() // did not exit on EOF; the error is only "already finished"
		<-exited
	}
}

func (p *pymodbus) line(timeout time.Duration) string {
	p.t.Helper()
	select {
	case l, ok := <-p.lines:
		if !ok {
			p.t.Fatal("pymodbus exited")
		}
		return l
	case <-time.After(timeout):
		p.t.Fatal("pymodbus: no answer")
	}
	return ""
}

// do sends a command and returns what follows "OK ".
func (p *pymodbus) do(format string, a ...any) string {
	p.t.Helper()
	cmd := fmt.Sprintf(format, a...)
	if _, err := fmt.Fprintln(p.in, cmd); err != nil {
		p.t.Fatal(err)
	}
	l := p.line(5 * time.Second)
	if !strings.HasPrefix(l, "OK") {
		p.t.Fatalf("pymodbus %q: %s", cmd, l)
	}
	return strings.TrimSpace(strings.TrimPrefix(l, "OK"))
}

type testWriter struct {
	t      *testing.T
	prefix string
}

func (w *testWriter) Write(b []byte) (int, error) {
	w.t.Log(w.prefix + strings.TrimSpace(string(b)))
	return len(b), nil
}

// ptyPair is a socat-made pair of connected ptys, with links A and B.
type ptyPair struct {
	A, B string
	stop func()
}

// startPTYs runs socat with two linked ptys in dir and waits until it is
// transferring data.
func startPTYs(t *testing.T, dir string) *ptyPair {
	t.Helper()
	needTool(t, "socat", "-V")
	a, b := filepath.Join(dir, "A"), filepath.Join(dir, "B")
	cmd := exec.Command("socat", "-d", "-d",
		"pty,raw,echo=0,link="+a, "pty,raw,echo=0,link="+b)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "starting data transfer loop") {
				close(ready)
			}
		}
	}()
	go func() {
		_ = cmd.Wait() // killed on purpose
		close(exited)
	}()
	stop := func() {
		_ = cmd.Process.Kill() // may have exited already
		<-exited
	}
	t.Cleanup(stop)
	select {
	case <-ready:
	case <-exited:
		t.Fatal("socat exited")
	case <-time.After(10 * time.Second):
		t.Fatal("socat not ready")
	}
	return &ptyPair{A: a, B: b, stop: stop}
}
