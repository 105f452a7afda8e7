package fs_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anchorfs/anchorfs/fs"
)

// asNobody runs a command as uid/gid 65534 and returns its output and error.
func asNobody(args ...string) (string, error) {
	cmd := exec.Command("setpriv", append([]string{"--reuid=65534", "--regid=65534", "--clear-groups"}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestAllowOtherUsesOrdinaryPermissions(t *testing.T) {
	if _, err := exec.LookPath("setpriv"); err != nil || os.Geteuid() != 0 {
		t.Skip("SKIP: needs root and setpriv")
	}
	for _, allow := range []bool{false, true} {
		store := newTestStore(t)
		newVolume(t, store)
		m := mountOpts(t, store, t.TempDir(), selfUnwrap, fs.MountOptions{AllowOther: allow, Logf: t.Logf})
		os.Chmod(m.dir, 0o755)
		os.Chmod(filepath.Dir(m.dir), 0o755) // the test's temporary folder is 0700
		os.WriteFile(m.path("public"), []byte("for all"), 0o644)
		os.WriteFile(m.path("private"), []byte("root only"), 0o600)
		out, err := asNobody("cat", m.path("public"))
		if allow && (err != nil || out != "for all") {
			t.Fatalf("allow_other: another user cannot read a 0644 file: %q %v", out, err)
		}
		if !allow && err == nil {
			t.Fatalf("without allow_other another user read the mount: %q", out)
		}
		if out, err := asNobody("cat", m.path("private")); err == nil || (allow && !strings.Contains(out, "Permission denied")) {
			t.Fatalf("another user read a 0600 file (allow_other=%v): %q %v", allow, out, err)
		}
		m.unmount()
	}
}
