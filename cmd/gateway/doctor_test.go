package main

import (
	"bytes"
	"fmt"
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
		cfg := `[gateway]
data_dir = "` + data + `"

[upstream]
url = "mqtt://` + upstream + `"

  [[upstream.forward]]
  filter = "site/#"

[buffer]
max_bytes = "2MiB"

[[devices]]
name = "present"
driver = "serial"
port = "/dev/null"
format = "kv"

  [[devices.points]]
  name = "t"

[[devices]]
name = "unplugged"
driver = "serial"
port = "` + missing + `"
format = "kv"

  [[devices.points]]
  name = "t"
`
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
