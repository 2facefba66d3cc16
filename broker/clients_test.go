package broker

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgegw/gateway/internal/mqtttest"
)

func hostPort(b *Broker, i int) (host, port string) {
	a := b.Addrs()[i].String()
	i = strings.LastIndexByte(a, ':')
	return a[:i], a[i+1:]
}

// mosquittoPub runs mosquitto_pub against listener 0 of b and returns its
// combined output and error.
func mosquittoPub(t *testing.T, b *Broker, args ...string) (string, error) {
	t.Helper()
	bin := mqtttest.NeedTool(t, "mosquitto_pub")
	h, p := hostPort(b, 0)
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, append([]string{"-h", h, "-p", p}, args...)...).CombinedOutput()
	return string(out), err
}

// subProc is a running mosquitto_sub whose output lines arrive on lines.
type subProc struct {
	cmd   *exec.Cmd
	lines chan string
	done  chan struct{} // closed when it has exited
}

// startMosquittoSub starts mosquitto_sub with args (host and port of
// listener i added), waits until the broker has handled its SUBSCRIBE, and
// kills it in t.Cleanup.
func startMosquittoSub(t *testing.T, b *Broker, i int, args ...string) *subProc {
	t.Helper()
	bin := mqtttest.NeedTool(t, "mosquitto_sub")
	h, p := hostPort(b, i)
	before := b.stats.subPkts.Load()
	cmd := exec.Command(bin, append([]string{"-h", h, "-p", p}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sp := &subProc{cmd: cmd, lines: make(chan string, 100), done: make(chan struct{})}
	t.Cleanup(func() {
		cmd.Process.Kill() // may have exited already
		<-sp.done
	})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			sp.lines <- sc.Text()
		}
		io.Copy(io.Discard, out)
		cmd.Wait() // killed or exited: the output said why
		close(sp.done)
		close(sp.lines)
	}()
	waitFor(t, fmt.Sprintf("mosquitto_sub %v to subscribe", args), func() bool {
		return b.stats.subPkts.Load() > before
	})
	return sp
}

func (sp *subProc) expectLine(t *testing.T, want string) {
	t.Helper()
	select {
	case got, ok := <-sp.lines:
		if !ok {
			t.Fatalf("mosquitto_sub exited, want line %q", want)
		}
		if got != want {
			t.Fatalf("mosquitto_sub printed %q, want %q", got, want)
		}
	case <-time.After(testTimeout):
		t.Fatalf("mosquitto_sub: timed out waiting for %q", want)
	}
}

// pahoConnect connects a paho client to url and disconnects it in t.Cleanup.
func pahoConnect(t *testing.T, url string, configure func(*mqtt.ClientOptions)) mqtt.Client {
	t.Helper()
	c, err := pahoTry(url, configure)
	if err != nil {
		t.Fatalf("paho connect %s: %v", url, err)
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c
}

func pahoTry(url string, configure func(*mqtt.ClientOptions)) (mqtt.Client, error) {
	o := mqtt.NewClientOptions().AddBroker(url).SetAutoReconnect(false).
		SetConnectTimeout(testTimeout).SetProtocolVersion(4)
	if configure != nil {
		configure(o)
	}
	c := mqtt.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(testTimeout) {
		return nil, fmt.Errorf("connect timed out")
	}
	return c, tok.Error()
}

func wait(t *testing.T, tok mqtt.Token) {
	t.Helper()
	if !tok.WaitTimeout(testTimeout) {
		t.Fatal("paho token timed out")
	}
	if err := tok.Error(); err != nil {
		t.Fatal(err)
	}
}

func tcpURL(b *Broker, i int) string { return "tcp://" + b.Addrs()[i].String() }

// runTool runs an external client to completion (bounded by testTimeout).
func runTool(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	bin := mqtttest.NeedTool(t, name)
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	return string(out), err
}
