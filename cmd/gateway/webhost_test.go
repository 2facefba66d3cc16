package main

import (
	"bufio"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"testing"
	"time"
)

// TestWebHostHeaderBinary runs the real gateway (the demo, its page on
// loopback without a login): a request naming another host, as after DNS
// rebinding, does not get the status; one for 127.0.0.1 does.
func TestWebHostHeaderBinary(t *testing.T) {
	bin := gatewayBinary(t)
	cmd := exec.Command(bin, "--data-dir", t.TempDir(), "--mqtt", "127.0.0.1:0", "--web", "127.0.0.1:0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // the test is over; its exit status does not matter
		_ = cmd.Wait()
	})
	addrRE := regexp.MustCompile(`msg="web: serving".* address=(\S+)`)
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := addrRE.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	var addr string
	select {
	case addr = <-found:
	case <-time.After(60 * time.Second):
		t.Fatal("the gateway did not report its web address")
	}
	for host, want := range map[string]int{"attacker.example": http.StatusMisdirectedRequest, addr: http.StatusOK} {
		req, err := http.NewRequestWithContext(t.Context(), "GET", "http://"+addr+"/api/status", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET /api/status with Host %q: %d, want %d", host, resp.StatusCode, want)
		}
	}
}
