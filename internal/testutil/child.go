package testutil

import (
	"bufio"
	"os"
	"os/exec"
	"testing"
)

// Child is the test binary re-run as a child process, for tests that kill a
// process (kill -9) and check what survives.
type Child struct {
	Cmd *exec.Cmd
	// Out reads the child's standard output line by line (its "ready" or
	// what it accepted); its standard error goes to the test's.
	Out *bufio.Scanner
}

// StartChild runs the test binary again, running only the test named test,
// with env ("KEY=VALUE") added to its environment: the test finds the
// variable set and plays the child's part (see TestKill9 in buffer). The
// child is killed and waited for when the test ends.
func StartChild(t testing.TB, test string, env ...string) *Child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the %s child: %v", test, err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }) // it may be gone already
	return &Child{Cmd: cmd, Out: bufio.NewScanner(out)}
}

// WaitLine reads the child's output until a line equal to want, and reports
// whether it came (false: the child's output ended first).
func (c *Child) WaitLine(want string) bool {
	for c.Out.Scan() {
		if c.Out.Text() == want {
			return true
		}
	}
	return false
}

// Kill9 kills the child with SIGKILL and waits for it to be gone.
func (c *Child) Kill9(t testing.TB) {
	t.Helper()
	if err := c.Cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = c.Cmd.Wait() // the error only says it was killed
}
