// Package fs serves a volume to the kernel through FUSE.
package fs

import (
	"fmt"
	"log"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/anchorfs/anchorfs/fs/volume"
)

// MountOptions shape a mount.
type MountOptions struct {
	// AllowOther lets other local users in, under the kernel's ordinary
	// permission checks (default_permissions).
	AllowOther bool
	// CacheTimeout is how long the kernel trusts names and attributes
	// (0: cacheTimeout); the mount tells it of other writers' changes
	// (Notify) as they land either way. A name the kernel found absent is
	// trusted for cacheTimeout whatever this says: Notify cannot reach a
	// name the kernel holds no node for, so another writer's new name shows
	// within that.
	CacheTimeout time.Duration
	// ReadOnly mounts read-only (the kernel refuses every change, EROFS).
	ReadOnly bool
	// Debug logs every FUSE request through Logf.
	Debug bool
	Logf  func(format string, args ...any)
}

const (
	// maxWrite is the largest write the kernel sends: one chunk, so a
	// sequential writer fills a chunk per request.
	maxWrite = 1 << 20
	// cacheTimeout is how long the kernel trusts names and attributes. This
	// mount's own changes go through the kernel; when the tree changes
	// otherwise (another writer's head merged, a version taken from the
	// ledger, a share refreshed, a conflict copy), the mount tells the
	// kernel at once (Notify: names that now hold another node or none,
	// files whose version changed lose their attributes and pages; a name
	// found absent is trusted for this long only). An open
	// of a changed file drops its cached pages too, and one that takes a
	// version the kernel has another size for reads with direct I/O.
	cacheTimeout = time.Second
)

// Server is a live mount.
type Server struct {
	srv     *fuse.Server
	dir     string
	v       *volume.Volume
	unmount sync.Once
}

// Serve mounts v at dir and returns once the mount is live.
func Serve(v *volume.Volume, dir string, opt MountOptions) (*Server, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("mount point: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("mount point %s is not a folder", dir)
	}
	if _, err := os.Stat("/dev/fuse"); err != nil && !isDarwin() {
		return nil, fmt.Errorf("no /dev/fuse: load the fuse kernel module (modprobe fuse) or install FUSE")
	}
	logf := opt.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	timeout, negative := cacheTimeout, cacheTimeout
	if opt.CacheTimeout > 0 {
		timeout = opt.CacheTimeout
	}
	mo := fuse.MountOptions{
		FsName:       "anchorfs",
		Name:         "anchorfs",
		MaxWrite:     maxWrite,
		MaxReadAhead: maxWrite,
		AllowOther:   opt.AllowOther,
		Debug:        opt.Debug,
		Logger:       log.New(logWriter(logf), "", 0),
		// As root, mount without fusermount3 (it may not be installed).
		DirectMount: os.Geteuid() == 0,
		// open(O_TRUNC) arrives as one OPEN with O_TRUNC, not a SETATTR to
		// size 0 before it: the truncation joins the version the writes make.
		ExtraCapabilities: fuse.CAP_ATOMIC_O_TRUNC,
		// Reads answer with bytes, never a file descriptor: go-fuse's splice
		// path would fill a pipe with the header before finding that out.
		DisableSplice: true,
	}
	if opt.AllowOther {
		mo.Options = append(mo.Options, "default_permissions")
	}
	if opt.ReadOnly {
		mo.Options = append(mo.Options, "ro")
	}
	root := &node{v: v, n: v.Root()}
	srv, err := gofs.Mount(dir, root, &gofs.Options{
		MountOptions:    mo,
		EntryTimeout:    &timeout,
		AttrTimeout:     &timeout,
		NegativeTimeout: &negative,
		RootStableAttr:  &gofs.StableAttr{Ino: v.Root().Ino()},
		NullPermissions: true,
	})
	if err != nil {
		return nil, mountError(dir, err)
	}
	raiseReadAhead(dir, logf)
	inv := &invalidator{root: root}
	v.OnChange(inv.kick)
	detail := map[string]string{"allowOther": strconv.FormatBool(opt.AllowOther), "readOnly": strconv.FormatBool(opt.ReadOnly)}
	v.Record("mount", nil, detail)
	return &Server{srv: srv, dir: dir, v: v}, nil
}

// readAheadKB is the kernel read-ahead asked for the mount: the kernel caps
// a FUSE mount's at 128 KiB whatever the file system offers, and a whole
// chunk per request keeps a sequential reader's fetches and decryption
// ahead of it (about 15% more throughput when cold).
const readAheadKB = maxWrite >> 10

// raiseReadAhead sets the mount's read-ahead through its backing device in
// sysfs, where this process may (root on Linux); otherwise the kernel's
// default stays.
func raiseReadAhead(dir string, logf func(string, ...any)) {
	var st syscall.Stat_t
	if isDarwin() || syscall.Stat(dir, &st) != nil {
		return
	}
	dev := uint64(st.Dev) // int32 on darwin
	p := fmt.Sprintf("/sys/class/bdi/%d:%d/read_ahead_kb", unix.Major(dev), unix.Minor(dev))
	if err := os.WriteFile(p, []byte(fmt.Sprintf("%d", readAheadKB)), 0o644); err != nil {
		logf("kernel read-ahead stays at its default: %v", err)
	}
}

func mountError(dir string, err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "fusermount"):
		return fmt.Errorf("mounting %s: %v (install fuse3, or run as root)", dir, err)
	case strings.Contains(msg, "busy"):
		return fmt.Errorf("mounting %s: the mount point is busy (already mounted?)", dir)
	}
	return fmt.Errorf("mounting %s: %w", dir, err)
}

// Wait blocks until the file system is unmounted, and records the unmount.
func (s *Server) Wait() {
	s.srv.Wait()
	s.unmount.Do(func() { s.v.Record("unmount", nil, nil) })
}

// Unmount asks the kernel to detach the mount.
func (s *Server) Unmount() error { return s.srv.Unmount() }

// Detach unmounts dir lazily (umount -l): it leaves the namespace now, and
// the kernel ends the mount once its open files are closed.
func Detach(dir string) error {
	if isDarwin() {
		return syscall.Unmount(dir, 0)
	}
	return syscall.Unmount(dir, mntDetach)
}

// mntDetach is Linux's MNT_DETACH (2), which darwin's headers lack.
const mntDetach = 0x2

type logWriter func(string, ...any)

func (w logWriter) Write(p []byte) (int, error) {
	w("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
