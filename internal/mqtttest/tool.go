package mqtttest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// debianPackage names the Debian package of the programs tests run, for the
// message when one is missing.
var debianPackage = map[string]string{
	"mosquitto":        "mosquitto",
	"mosquitto_passwd": "mosquitto",
	"mosquitto_pub":    "mosquitto-clients",
	"mosquitto_sub":    "mosquitto-clients",
}

// NeedTool returns the path of the external program name, looked up in PATH
// and then in /usr/sbin and /sbin (where Debian puts mosquitto, outside a
// normal user's PATH). A missing program fails the test, because
// scripts/test installs every program the tests use; with -short it skips
// the test instead.
func NeedTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		if sp, serr := exec.LookPath(filepath.Join(dir, name)); serr == nil {
			return sp
		}
	}
	if testing.Short() {
		t.Skipf("%s not installed", name)
	}
	if pkg, ok := debianPackage[name]; ok {
		t.Fatalf("%s not installed (Debian package %s; scripts/test installs it): %v", name, pkg, err)
	}
	t.Fatalf("%s not installed (scripts/test installs it): %v", name, err)
	return ""
}

// WriteFile writes text to a file called name in a new temporary directory
// (removed when the test ends) and returns its path: for password, ACL and
// config files.
func WriteFile(t testing.TB, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
