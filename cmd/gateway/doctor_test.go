package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDoctor runs every check against a config whose upstream, ports and
// data directory are on this machine (loopback only): the lines say ok,
// warn or FAIL with what to do, and any FAIL makes it exit non-zero.
func TestDoctor(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close() // a port nothing listens on

	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o750); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "ttyUSB9")
	write := func(upstream string) string {
		path := filepath.Join(dir, "config.toml")
		cfg := doctorConfig(data, "mqtt://"+upstream, "") + serialDevice("present", "/dev/null", "") +
			serialDevice("unplugged", missing, "")
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}

	tests := []struct {
		name     string
		upstream string
		synced   bool
		want     []string
	}{
		{"reachable", ln.Addr().String(), true, []string{
			"ok    config: ",
			"ok    serial /dev/null: /dev/null, usable by user " + me.Username,
			"FAIL  serial " + missing + ": missing",
			"ok    data_dir " + data + ": writable by user " + me.Username,
			"ok    clock: synchronised (test)",
			"ok    upstream " + ln.Addr().String() + ": resolves to [127.0.0.1], TCP connect in",
			"1 failed, 0 warnings",
		}},
		{"unreachable, clock not synced", closedAddr, false, []string{
			"warn  clock: not synchronised (test): readings carry \"clock\":\"unsynced\"",
			"FAIL  upstream " + closedAddr + ": resolves to [127.0.0.1] but is not reachable",
			"2 failed, 1 warnings",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			d := &doctor{out: &out, user: me.Username, timeout: 10 * time.Second,
				clockSynced: func() (bool, string) { return tt.synced, "test" }}
			d.run(t.Context(), write(tt.upstream))
			if d.fails == 0 {
				t.Errorf("no failures, want the missing port at least")
			}
			got := out.String() + fmt.Sprintf("%d failed, %d warnings\n", d.fails, d.warns)
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("output lacks %q:\n%s", w, got)
				}
			}
		})
	}

	// The command: exit status 1 (an error) when a check failed.
	var out bytes.Buffer
	if err := run(t.Context(), []string{"doctor", "-c", write(ln.Addr().String()), "--user", me.Username}, &out, &out); err == nil {
		t.Errorf("doctor with a missing port returned nil:\n%s", out.String())
	}
}

// doctorConfig is the start of a config for the doctor's tests: data_dir,
// an upstream url with a forward rule, max_bytes; gatewayExtra is a line
// more in [gateway].
func doctorConfig(dataDir, url, gatewayExtra string) string {
	return `[gateway]
data_dir = "` + dataDir + `"
` + gatewayExtra + `

[upstream]
url = "` + url + `"

  [[upstream.forward]]
  filter = "site/#"

[buffer]
max_bytes = "2MiB"
`
}

// serialDevice is a serial device reading port, with one point;
// pointExtra is a line more in the point.
func serialDevice(name, port, pointExtra string) string {
	return `
[[devices]]
name = "` + name + `"
driver = "serial"
port = "` + port + `"
format = "kv"

  [[devices.points]]
  name = "t"
  ` + pointExtra + `
`
}

// TestDoctorAccess: a port in group dialout with mode 0660 is usable by a
// user in dialout and not by one outside it.
func TestDoctorAccess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ttyUSB0")
	if err := os.WriteFile(path, nil, 0o660); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o660); err != nil { // past the umask
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	gid := groupOf(t, info)
	other := &user.User{Uid: "54321", Username: "gateway"}
	if !access(info, other, []string{gid}, true) {
		t.Errorf("a user in the file's group cannot use a 0660 port")
	}
	if access(info, other, []string{"99999"}, true) {
		t.Errorf("a user outside the file's group can use a 0660 port")
	}
}

func groupOf(t *testing.T, info os.FileInfo) string {
	t.Helper()
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		t.Skip("no Stat_t")
	}
	return strconv.FormatUint(uint64(st.Gid), 10)
}

// TestDoctorGoesOnAfterConfigProblems: a config with problems is reported
// with every problem `gateway check --offline` lists, and the machine
// checks that do not depend on a key with a problem still run: the serial
// port of a good device, data_dir, the clock, the upstream. A check whose
// key has a problem is skipped and says so; a file that does not decode
// leaves the clock alone.
func TestDoctorGoesOnAfterConfigProblems(t *testing.T) {
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := t.TempDir()
	missing := filepath.Join(dir, "ttyUSB9")
	write := func(name, upstream, extra string) string {
		path := filepath.Join(dir, name)
		cfg := doctorConfig(dir, upstream, `log_levle = "debug"`) + serialDevice("unplugged", missing, "sclae = 2") + extra
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	doctorOut := func(path string) string {
		var out bytes.Buffer
		d := &doctor{out: &out, user: me.Username, timeout: 10 * time.Second,
			clockSynced: func() (bool, string) { return true, "test" }}
		d.run(t.Context(), path)
		return out.String() + fmt.Sprintf("%d failed, %d warnings\n", d.fails, d.warns)
	}
	check := func(path string) string {
		err := run(t.Context(), []string{"check", "--offline", path}, io.Discard, io.Discard)
		if err == nil {
			t.Fatalf("check %s passed", path)
		}
		return err.Error()
	}

	path := write("unrelated.toml", "mqtt://"+ln.Addr().String(), "")
	got := doctorOut(path)
	for _, w := range []string{
		"FAIL  config: ",
		check(path), // every problem check lists
		"FAIL  serial " + missing + ": missing",
		"ok    data_dir " + dir + ": writable by user " + me.Username,
		"ok    clock: synchronised (test)",
		"ok    upstream " + ln.Addr().String() + ": resolves to [127.0.0.1], TCP connect in",
		"2 failed, 0 warnings",
	} {
		if !strings.Contains(got, w) {
			t.Errorf("output lacks %q:\n%s", w, got)
		}
	}

	// The upstream's url and the device's port have problems: their checks
	// are skipped, the rest run.
	path = write("related.toml", "ftp://"+ln.Addr().String(), serialDevice("noport", "", ""))
	got = doctorOut(path)
	for _, w := range []string{
		check(path),
		"FAIL  serial " + missing + ": missing",
		"skip  upstream: upstream.url has a problem (see config above)",
		"ok    data_dir ",
		"ok    clock: ",
	} {
		if !strings.Contains(got, w) {
			t.Errorf("output lacks %q:\n%s", w, got)
		}
	}
	if strings.Contains(got, "upstream ftp") || strings.Contains(got, "serial :") {
		t.Errorf("a check of a key with a problem ran:\n%s", got)
	}

	// A file that does not decode: the clock is still checked.
	bad := filepath.Join(dir, "syntax.toml")
	if err := os.WriteFile(bad, []byte("[gateway\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got = doctorOut(bad)
	for _, w := range []string{"FAIL  config: ", check(bad), "ok    clock: synchronised (test)", "1 failed, 0 warnings"} {
		if !strings.Contains(got, w) {
			t.Errorf("output lacks %q:\n%s", w, got)
		}
	}
}
