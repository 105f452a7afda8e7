// Package remotetest is what tests use for a remote: rclone's own servers on 127.0.0.1 (for network remotes, and their faults) and an object store in memory (for unit tests).
package remotetest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rclone/rclone/fs/config/obscure"
)

var buildMu sync.Mutex

// rcloneVersion is the rclone module version this build depends on.
func rcloneVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/rclone/rclone" {
				return d.Version
			}
		}
	}
	return "unknown"
}

// RcloneBinary returns the path of the rclone program built from the module
// this project depends on, building it on first use into a cache folder
// ($ANCHORFS_TEST_CACHE, or the user cache folder). A file lock keeps
// concurrent test binaries from building it twice.
func RcloneBinary(t testing.TB) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	dir := os.Getenv("ANCHORFS_TEST_CACHE")
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			base = os.TempDir()
		}
		dir = filepath.Join(base, "anchorfs-test")
	}
	dir = filepath.Join(dir, "rclone-"+rcloneVersion())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "rclone")
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	t.Logf("building rclone %s for network remote tests (once)", rcloneVersion())
	cmd := exec.Command("go", "build", "-o", bin+".tmp", "github.com/rclone/rclone")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building rclone: %v\n%s", err, out)
	}
	if err := os.Rename(bin+".tmp", bin); err != nil {
		t.Fatal(err)
	}
	return bin
}

// Server is an rclone server serving a folder on 127.0.0.1.
type Server struct {
	t    testing.TB
	args []string
	addr string
	cmd  *exec.Cmd
	// Spec is a connection string for remote.Open.
	Spec string
}

// freePort finds a port nobody listens on.
func freePort(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// ServeWebDAV serves dir over WebDAV.
func ServeWebDAV(t testing.TB, dir string) *Server {
	addr := freePort(t)
	s := &Server{t: t, addr: addr, args: []string{"serve", "webdav", dir, "--addr", addr},
		Spec: fmt.Sprintf(":webdav,url='http://%s':", addr)}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// ServeSFTP serves dir over SFTP with a user and password.
func ServeSFTP(t testing.TB, dir string) *Server {
	addr := freePort(t)
	host, port, _ := net.SplitHostPort(addr)
	s := &Server{t: t, addr: addr, args: []string{"serve", "sftp", dir, "--addr", addr, "--user", "anchor", "--pass", "test-pass"},
		Spec: fmt.Sprintf(":sftp,host=%s,port=%s,user=anchor,pass=%s:", host, port, obscure.MustObscure("test-pass"))}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// Start runs the server and waits until it accepts connections.
func (s *Server) Start() {
	s.t.Helper()
	bin := RcloneBinary(s.t)
	s.cmd = exec.Command(bin, append(s.args, "--config", "/dev/null", "--log-level", "ERROR")...)
	var out strings.Builder
	s.cmd.Stdout, s.cmd.Stderr = &out, &out
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		if c, err := net.Dial("tcp", s.addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.Stop()
	s.t.Fatalf("rclone %s did not start: %s", s.args[1], out.String())
}

// Stop kills the server; Start brings it back on the same address.
func (s *Server) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Signal(syscall.SIGCONT) // a paused one too
		s.cmd.Process.Kill()
		s.cmd.Wait()
		s.cmd = nil
	}
}

// Pause stops the server process (SIGSTOP): connections hang, neither
// answered nor refused, as a stalled network remote does.
func (s *Server) Pause() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Signal(syscall.SIGSTOP)
	}
}

// Resume lets a paused server go on (SIGCONT).
func (s *Server) Resume() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Signal(syscall.SIGCONT)
	}
}
