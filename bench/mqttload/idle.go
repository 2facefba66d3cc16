package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// runIdle opens p.idle idle MQTT connections to each target in turn and
// reports the growth of the broker's resident set per connection.
func runIdle(ctx context.Context, targets []target, p params, stdout, stderr io.Writer) error {
	fmt.Fprintf(stdout, "| %d idle connections |", p.idle)
	var perConn []float64
	for _, t := range targets {
		pid := p.pids[t.name]
		if pid == 0 {
			return fmt.Errorf("idle: no -pids entry for %s", t.name)
		}
		before, err := rssKiB(pid)
		if err != nil {
			return err
		}
		addr := strings.TrimPrefix(t.url, "tcp://")
		conns := make([]net.Conn, 0, p.idle)
		for i := range p.idle {
			c, err := idleConn(addr, fmt.Sprintf("idle-%d", i))
			if err != nil {
				for _, c := range conns {
					c.Close()
				}
				return fmt.Errorf("idle %s: connection %d: %w", t.name, i, err)
			}
			conns = append(conns, c)
		}
		select {
		case <-time.After(p.settle): // let the broker settle before sampling
		case <-ctx.Done():
		}
		after, err := rssKiB(pid)
		for _, c := range conns {
			c.Close()
		}
		if err != nil {
			return err
		}
		per := float64(after-before) / float64(p.idle)
		perConn = append(perConn, per)
		fmt.Fprintf(stderr, "idle %s: RSS %d KiB -> %d KiB: %.1f KiB per connection\n", t.name, before, after, per)
		fmt.Fprintf(stdout, " %d -> %d KiB | %.1f KiB/conn |", before, after, per)
	}
	if len(perConn) >= 2 && perConn[1] > 0 {
		fmt.Fprintf(stdout, " %.2fx |", perConn[0]/perConn[1])
	}
	fmt.Fprintln(stdout)
	return nil
}

// idleConn connects with a minimal MQTT 3.1.1 CONNECT (clean session, no
// keep-alive) and waits for CONNACK.
func idleConn(addr, id string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	body := []byte{0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 0, 0, byte(len(id))}
	body = append(body, id...)
	pkt := append([]byte{0x10, byte(len(body))}, body...)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(pkt); err != nil {
		c.Close()
		return nil, err
	}
	ack := make([]byte, 4)
	if _, err := io.ReadFull(c, ack); err != nil || ack[0] != 0x20 || ack[3] != 0 {
		c.Close()
		return nil, fmt.Errorf("connack %x: %v", ack, err)
	}
	c.SetDeadline(time.Time{})
	return c, nil
}

func rssKiB(pid int) (int, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			return strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		}
	}
	return 0, fmt.Errorf("pid %d: no VmRSS", pid)
}

// cpuTime returns the user+system CPU time of a process from
// /proc/PID/stat (fields 14 and 15, in clock ticks of 1/100 s).
func cpuTime(pid int) (time.Duration, error) {
	if pid == 0 {
		return 0, fmt.Errorf("no pid")
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:]) // fields from 3 on
	if len(f) < 13 {
		return 0, fmt.Errorf("pid %d: short stat", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("pid %d: bad stat", pid)
	}
	return time.Duration(ut+st) * 10 * time.Millisecond, nil
}
