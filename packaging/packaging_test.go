package packaging

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// root is the repository root, relative to this package.
const root = ".."

// needTool returns the path of a program the test runs. A missing program
// skips the test only under -short; otherwise it fails (CI installs it).
func needTool(t *testing.T, name, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if testing.Short() {
			t.Skipf("%s not installed (Debian package %s)", name, pkg)
		}
		t.Fatalf("%s not installed (Debian package %s): %v", name, pkg, err)
	}
	return path
}

// runScript runs one of the repository's scripts with extra environment,
// its output going to the test log. Cancelling the test's context stops it.
func runScript(t *testing.T, env []string, script string, args ...string) {
	t.Helper()
	dir, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), filepath.Join(dir, "scripts", script), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = t.Output()
	cmd.Stderr = t.Output()
	if err := cmd.Run(); err != nil {
		t.Fatalf("scripts/%s %s: %v", script, strings.Join(args, " "), err)
	}
}

// unitSettings reads a unit file into "Section.Key" -> values, in order.
func unitSettings(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	settings := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]")
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("%s: not key=value: %q", path, line)
			}
			settings[section+"."+k] = append(settings[section+"."+k], v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return settings
}

// TestUnitSettings pins the settings the gateway's code and packaging rely
// on (issue 7): a change here must be a decision, not an accident.
func TestUnitSettings(t *testing.T) {
	got := unitSettings(t, filepath.Join(root, "systemd", "gateway.service"))
	want := []struct{ key, value string }{
		{"Service.Type", "notify"}, // the gateway sends READY=1 (package sdnotify)
		{"Service.NotifyAccess", "main"},
		{"Service.WatchdogSec", "30s"}, // sdnotify.Watchdog pings every 15s
		{"Service.Restart", "on-failure"},
		{"Service.ExecReload", "/bin/kill -HUP $MAINPID"},
		{"Service.ExecStart", "/usr/bin/gateway run -c /etc/gateway/config.toml"},
		{"Service.User", "gateway"}, // created by packaging/preinst
		{"Service.Group", "gateway"},
		{"Service.SupplementaryGroups", "dialout"},
		{"Service.StateDirectory", "gateway"}, // data_dir /var/lib/gateway in the packaged config
		{"Service.ConfigurationDirectory", "gateway"},
		{"Service.ProtectSystem", "strict"},
		{"Service.ProtectHome", "yes"},
		{"Service.PrivateTmp", "yes"},
		{"Service.NoNewPrivileges", "yes"},
		{"Service.DevicePolicy", "closed"},
		{"Service.DeviceAllow", "char-ttyUSB rw"},
		{"Service.DeviceAllow", "char-ttyACM rw"},
		{"Service.DeviceAllow", "char-ttyS rw"},
		{"Service.DeviceAllow", "char-ttyAMA rw"},
		{"Service.CapabilityBoundingSet", ""},
		{"Service.RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6"},
		{"Service.SystemCallFilter", "@system-service"},
		{"Service.MemoryDenyWriteExecute", "yes"},
		{"Install.WantedBy", "multi-user.target"},
	}
	for _, w := range want {
		if !slices.Contains(got[w.key], w.value) {
			t.Errorf("%s: got %q, want %q among them", w.key, got[w.key], w.value)
		}
	}
}

// TestUnitVerifies runs systemd-analyze verify on the unit, with the
// gateway binary (not installed here) replaced by /bin/true.
func TestUnitVerifies(t *testing.T) {
	analyze := needTool(t, "systemd-analyze", "systemd")
	unit, err := os.ReadFile(filepath.Join(root, "systemd", "gateway.service"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "gateway.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(unit), "/usr/bin/gateway", "/bin/true")), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(t.Context(), analyze, "verify", path).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// maxExposure is the highest `systemd-analyze security` exposure the unit
// may have (issue 16); docs/systemd.md explains each remaining point.
const maxExposure = 2.5

// TestUnitExposure runs systemd-analyze security in offline mode (systemd
// need not be PID 1) on the unit and fails above maxExposure.
func TestUnitExposure(t *testing.T) {
	analyze := needTool(t, "systemd-analyze", "systemd")
	unit, err := os.ReadFile(filepath.Join(root, "systemd", "gateway.service"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "gateway.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(unit), "/usr/bin/gateway", "/bin/true")), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(t.Context(), analyze, "security", "--offline=true", "--no-pager", path).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for gateway\.service: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no overall exposure in:\n%s", out)
	}
	got, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("exposure %.1f", got)
	if got > maxExposure {
		t.Errorf("exposure %.1f, want <= %.1f:\n%s", got, maxExposure, out)
	}
}

// TestMaintainerScripts checks the .deb's scripts parse as POSIX sh (dpkg
// runs them with /bin/sh, dash on Debian).
func TestMaintainerScripts(t *testing.T) {
	for _, name := range []string{"preinst", "postinst", "prerm", "postrm"} {
		path := name
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o111 == 0 {
			t.Errorf("%s: mode %v, want executable", name, fi.Mode())
		}
		if out, err := exec.CommandContext(t.Context(), "sh", "-n", path).CombinedOutput(); err != nil {
			t.Errorf("sh -n %s: %v\n%s", name, err, out)
		}
	}
}

// TestCrossSmoke cross-builds the arm64 and armv7 binaries and runs them
// under qemu-user-static (scripts/smoke-qemu). Compiling cgo SQLite for two
// targets takes minutes, so it runs only with GATEWAY_CROSS_TEST=1.
func TestCrossSmoke(t *testing.T) {
	if os.Getenv("GATEWAY_CROSS_TEST") == "" {
		t.Skip("set GATEWAY_CROSS_TEST=1 to cross-build and run the binaries under qemu (slow)")
	}
	env := []string{"OUT=" + t.TempDir(), "VERSION=0.0.0-crosstest"}
	runScript(t, env, "build-cross", "arm64", "armv7")
	runScript(t, env, "smoke-qemu", "arm64", "armv7")
}

// TestPackageInstall builds the .deb for this machine, checks it with
// dpkg-deb, installs, removes and purges it (scripts/package-test). It needs
// root and changes the system, so it runs only with GATEWAY_PACKAGE_TEST=1.
func TestPackageInstall(t *testing.T) {
	if os.Getenv("GATEWAY_PACKAGE_TEST") == "" {
		t.Skip("set GATEWAY_PACKAGE_TEST=1 to build, install and purge the .deb (needs root)")
	}
	needTool(t, "dpkg-deb", "dpkg")
	runScript(t, []string{"OUT=" + t.TempDir(), "VERSION=0.0.0-pkgtest"}, "package-test")
}
