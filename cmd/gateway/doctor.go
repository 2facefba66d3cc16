package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/edgegw/gateway/config"
	"github.com/edgegw/gateway/internal/clock"
)

// doctor checks what the gateway needs from the machine it runs on: each
// check prints one line, ok, warn or FAIL, with what to do about it.
type doctor struct {
	out     io.Writer
	user    string        // the service user (the unit's User=)
	timeout time.Duration // for each name lookup and connection
	// clockSynced reports whether the system clock is synchronised, and
	// how that was found out.
	clockSynced func() (bool, string)
	fails       int
	warns       int
}

// doctorLevel is how a check went.
type doctorLevel string

const (
	doctorOK   doctorLevel = "ok"
	doctorWarn doctorLevel = "warn"
	doctorFail doctorLevel = "FAIL"
	doctorSkip doctorLevel = "skip" // not checked: its key has a config problem (reported already)
)

func (d *doctor) report(level doctorLevel, what, format string, args ...any) {
	switch level {
	case doctorFail:
		d.fails++
	case doctorWarn:
		d.warns++
	}
	fmt.Fprintf(d.out, "%-4s  %s: %s\n", level, what, fmt.Sprintf(format, args...))
}

func runDoctor(ctx context.Context, args []string, stdout, _ io.Writer) error {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	path := fs.String("c", "/etc/gateway/config.toml", "the config `file`")
	svcUser := fs.String("user", "gateway", "the `user` the service runs as (the unit's User=)")
	timeout := fs.Duration("timeout", 5*time.Second, "for each name lookup and connection to the upstream broker")
	if err := parseFlags(fs, args, stdout, "[-c FILE]",
		"Check this machine for the gateway: the config, its serial ports (present,\n"+
			"usable by the service user), the data directory (writable, free space against\n"+
			"[buffer] max_bytes), the clock (synchronised), the upstream broker (resolvable,\n"+
			"reachable). Each line says ok, warn or FAIL and what to do; the exit status is\n"+
			"1 when any check failed."); err != nil {
		return helpOK(err)
	}
	if fs.NArg() > 0 {
		return usagef("doctor: unexpected argument %q", fs.Arg(0))
	}
	d := &doctor{out: stdout, user: *svcUser, timeout: *timeout, clockSynced: clock.SyncState}
	d.run(ctx, *path)
	fmt.Fprintf(stdout, "%d failed, %d warnings\n", d.fails, d.warns)
	if d.fails > 0 {
		return fmt.Errorf("doctor: %d checks failed", d.fails)
	}
	return nil
}

func (d *doctor) run(ctx context.Context, path string) {
	// The config's problems are every one `gateway check --offline` lists
	// (the same code: decode, validate, compile); what depends on this
	// machine the doctor checks item by item below (the files, the serial
	// ports with the service user's access, data_dir). After problems it
	// goes on with the checks whose keys have none.
	cfg, err := config.LoadWithProblems(path, configDrivers(), components...)
	var probs config.Errors
	if err != nil {
		d.report(doctorFail, "config", "%s has problems (fix them; `gateway check %s` lists them):\n%v", path, path, err)
		errors.As(err, &probs) // none when unreadable: cfg is nil then
	} else {
		d.report(doctorOK, "config", "%s: %d devices", path, len(cfg.Devices))
	}
	if cfg == nil { // unreadable, or it did not decode: nothing else to go by
		d.checkClock()
		return
	}
	// skip reports a check left out for a problem of its key.
	skip := func(what, key string) bool {
		if !probs.Has(key) {
			return false
		}
		d.report(doctorSkip, what, "%s has a problem (see config above)", key)
		return true
	}
	d.checkFiles(cfg, probs)
	u, groups := d.lookupUser()
	for _, port := range serialPorts(cfg, probs) {
		d.checkPort(port, u, groups)
	}
	if !skip("data_dir", "gateway.data_dir") && !skip("data_dir", "buffer.max_bytes") {
		d.checkDataDir(cfg.Gateway.DataDir, cfg.Buffer.MaxBytes.Bytes, u, groups)
	}
	d.checkClock()
	if !skip("upstream", "upstream.url") {
		d.checkUpstream(ctx, cfg.Upstream.URL)
	}
}

// lookupUser returns the service user and its groups; nil when it does not
// exist (reported once).
func (d *doctor) lookupUser() (*user.User, []string) {
	u, err := user.Lookup(d.user)
	if err != nil {
		d.report(doctorWarn, "user "+d.user, "not found (%v): the package creates it; checking access as the current user", err)
		if u, err = user.Current(); err != nil {
			return nil, nil
		}
	}
	groups, err := u.GroupIds()
	if err != nil {
		d.report(doctorWarn, "user "+u.Username, "its groups: %v", err)
	}
	return u, groups
}

// checkFiles loads the files the components name (config.Component.Files)
// as `gateway check` does, but those whose key has a problem in probs; the
// devices' serial ports are checkPort's.
func (d *doctor) checkFiles(cfg *config.Config, probs config.Errors) {
	for _, comp := range components {
		if comp.Files == nil || comp.Name == "devices" {
			continue
		}
		for _, f := range comp.Files(cfg) {
			if probs.Has(f.Key.String()) {
				continue // the config's report has it
			}
			errs := f.Problems()
			for _, err := range errs {
				d.report(doctorFail, "file "+f.Name, "%s: %v", f.Key, err)
			}
			if len(errs) == 0 {
				d.report(doctorOK, "file "+f.Name, "%s: loads", f.Key)
			}
		}
	}
}

// serialPorts returns the serial ports (the files the drivers open) the
// config's devices use, in order, but those whose key has a problem in
// probs.
func serialPorts(cfg *config.Config, probs config.Errors) []string {
	var ports []string
	for _, f := range deviceFiles(cfg) {
		if !slices.Contains(ports, f.Name) && !probs.Has(f.Key.String()) {
			ports = append(ports, f.Name)
		}
	}
	return ports
}

// access says whether u (with groups) may read and, with write, also write
// a file of info's mode and owner.
func access(info fs.FileInfo, u *user.User, groups []string, write bool) bool {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok || u == nil {
		return true // cannot tell: do not complain
	}
	if u.Uid == "0" {
		return true
	}
	need := fs.FileMode(0o4)
	if write {
		need |= 0o2
	}
	mode := info.Mode().Perm()
	switch {
	case strconv.FormatUint(uint64(st.Uid), 10) == u.Uid:
		return mode>>6&need == need
	case slices.Contains(groups, strconv.FormatUint(uint64(st.Gid), 10)):
		return mode>>3&need == need
	}
	return mode&need == need
}

func groupName(gid uint32) string {
	if g, err := user.LookupGroupId(strconv.FormatUint(uint64(gid), 10)); err == nil {
		return g.Name
	}
	return strconv.FormatUint(uint64(gid), 10)
}

func (d *doctor) checkPort(port string, u *user.User, groups []string) {
	what := "serial " + port
	info, err := os.Stat(port)
	if err != nil {
		d.report(doctorFail, what, "missing (%v): plug the adapter in and check `ls -l /dev/serial/by-id/`; the gateway opens it once it appears", errors.Unwrap(err))
		return
	}
	if info.Mode()&fs.ModeCharDevice == 0 {
		d.report(doctorFail, what, "not a character device (%v): point port at the adapter's tty", info.Mode())
		return
	}
	real, _ := filepath.EvalSymlinks(port) // only for the message; Stat above followed the links
	if u != nil && !access(info, u, groups, true) {
		gid := info.Sys().(*syscall.Stat_t).Gid
		d.report(doctorFail, what, "%s (%s) is not readable and writable by user %s: `sudo usermod -aG %s %s`, then restart the gateway",
			real, info.Mode().Perm(), u.Username, groupName(gid), u.Username)
		return
	}
	d.report(doctorOK, what, "%s, usable by %s", real, userName(u))
}

func userName(u *user.User) string {
	if u == nil {
		return "the current user"
	}
	return "user " + u.Username
}

func (d *doctor) checkDataDir(dir string, maxBytes int64, u *user.User, groups []string) {
	what := "data_dir " + dir
	info, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		d.report(doctorWarn, what, "does not exist yet: the gateway creates it (the package's unit does, as /var/lib/gateway)")
		return
	case err != nil:
		d.report(doctorFail, what, "%v", err)
		return
	case !info.IsDir():
		d.report(doctorFail, what, "not a directory: set [gateway] data_dir to a directory")
		return
	}
	if u != nil && !access(info, u, groups, true) {
		d.report(doctorFail, what, "not writable by %s (%s): `sudo chown %s %s`", userName(u), info.Mode().Perm(), u.Username, dir)
		return
	}
	var sfs syscall.Statfs_t
	if err := syscall.Statfs(dir, &sfs); err != nil {
		d.report(doctorWarn, what, "free space unknown: %v", err)
		return
	}
	free := int64(sfs.Bavail) * int64(sfs.Bsize)
	switch {
	case maxBytes == 0:
		d.report(doctorWarn, what, "%s free and [buffer] max_bytes = 0 (no limit): a long outage can fill the disk; set max_bytes", sizeString(free))
	case free < maxBytes:
		d.report(doctorFail, what, "%s free, less than [buffer] max_bytes %s: free space or lower max_bytes (the buffer would hit a full disk first)", sizeString(free), sizeString(maxBytes))
	case free < maxBytes+maxBytes/4:
		d.report(doctorWarn, what, "%s free, little over [buffer] max_bytes %s: keep a quarter more for SQLite", sizeString(free), sizeString(maxBytes))
	default:
		d.report(doctorOK, what, "writable by %s, %s free for [buffer] max_bytes %s", userName(u), sizeString(free), sizeString(maxBytes))
	}
}

// sizeString prints n bytes in MiB or GiB.
func sizeString(n int64) string {
	if n >= 10<<30 {
		return fmt.Sprintf("%.0fGiB", float64(n)/(1<<30))
	}
	return fmt.Sprintf("%.0fMiB", float64(n)/(1<<20))
}

func (d *doctor) checkClock() {
	synced, how := d.clockSynced()
	if synced {
		d.report(doctorOK, "clock", "synchronised (%s)", how)
		return
	}
	d.report(doctorWarn, "clock", "not synchronised (%s): readings carry \"clock\":\"unsynced\" until it is; enable NTP (`sudo timedatectl set-ntp true`) and check that the network reaches a time server", how)
}

func (d *doctor) checkUpstream(ctx context.Context, raw string) {
	if raw == "" {
		d.report(doctorOK, "upstream", "none configured ([upstream] url is empty): nothing is forwarded")
		return
	}
	u, err := url.Parse(raw)
	if err != nil {
		d.report(doctorFail, "upstream", "url %q: %v", raw, err)
		return
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "1883"
		if u.Scheme == "mqtts" || u.Scheme == "ssl" || u.Scheme == "tls" {
			port = "8883"
		}
	}
	what := "upstream " + net.JoinHostPort(host, port)
	lctx, cancel := context.WithTimeout(ctx, d.timeout)
	addrs, err := net.DefaultResolver.LookupHost(lctx, host)
	cancel()
	if err != nil {
		d.report(doctorFail, what, "name not resolvable (%v): check the name and /etc/resolv.conf; buffered data waits until it resolves", err)
		return
	}
	var dialer net.Dialer
	dctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	start := time.Now()
	conn, err := dialer.DialContext(dctx, "tcp", net.JoinHostPort(host, port))
	if err != nil {
		d.report(doctorFail, what, "resolves to %v but is not reachable (%v): check the network, a firewall, the port", addrs, err)
		return
	}
	_ = conn.Close() // only probing
	d.report(doctorOK, what, "resolves to %v, TCP connect in %v", addrs, time.Since(start).Round(time.Millisecond))
}
