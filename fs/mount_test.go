package fs_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/anchorfs/anchorfs/fs"
	"github.com/anchorfs/anchorfs/fs/volume"
	"github.com/anchorfs/anchorfs/network"
)

// selfWrap stands for the keyring in these tests: the key "wrapped" for the
// owner is the key itself, so a volume can be reopened without an identity.
func selfWrap(k []byte) ([]byte, error)   { return append([]byte(nil), k...), nil }
func selfUnwrap(k []byte) ([]byte, error) { return k, nil }

// mounted is a volume served at a temporary mount point.
type mounted struct {
	t     *testing.T
	dir   string // mount point
	cache string
	store volume.ObjectStore
	vol   *volume.Volume
	srv   *fs.Server
	// closeMayFail: the test expects closing to fail (a full remote).
	closeMayFail bool
}

// newVolume creates a volume on store.
func newVolume(t *testing.T, store volume.ObjectStore) {
	t.Helper()
	if _, err := volume.Create(context.Background(), store, selfWrap, volume.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// mount opens the volume on store with cache folder cache and mounts it.
func mount(t *testing.T, store volume.ObjectStore, cache string) *mounted {
	t.Helper()
	return mountWith(t, store, cache, selfUnwrap)
}

// mountWith is mount with the key unwrapped by unwrap.
func mountWith(t *testing.T, store volume.ObjectStore, cache string, unwrap func([]byte) ([]byte, error)) *mounted {
	t.Helper()
	return mountOpts(t, store, cache, unwrap, fs.MountOptions{Logf: t.Logf})
}

// mountOpts is mountWith with mount options.
func mountOpts(t *testing.T, store volume.ObjectStore, cache string, unwrap func([]byte) ([]byte, error), opt fs.MountOptions) *mounted {
	t.Helper()
	return mountFull(t, store, volume.Options{CacheDir: cache, Logf: t.Logf}, unwrap, opt)
}

// mountFull opens the volume with vopt and mounts it with opt.
func mountFull(t *testing.T, store volume.ObjectStore, vopt volume.Options, unwrap func([]byte) ([]byte, error), opt fs.MountOptions) *mounted {
	t.Helper()
	cache := vopt.CacheDir
	if os.Geteuid() != 0 {
		t.Skip("SKIP: mounting needs root (or fusermount3); run as root")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skip("SKIP: no /dev/fuse")
	}
	if vopt.Ledger != nil {
		register(store, vopt.Ledger)
	}
	v, err := volume.Open(context.Background(), store, unwrap, vopt)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	srv, err := fs.Serve(v, dir, opt)
	if err != nil {
		v.Close(context.Background())
		t.Fatal(err)
	}
	m := &mounted{t: t, dir: dir, cache: cache, store: store, vol: v, srv: srv}
	t.Cleanup(m.unmount)
	return m
}

// register makes the ledger's caller the owner of the volume on store, as
// init does (a no-op, or refused, for a volume registered already).
func register(store volume.ObjectStore, l network.Ledger) {
	if c, err := volume.ReadConfig(context.Background(), store); err == nil {
		l.Register(context.Background(), c.Volume)
	}
}

// unmount detaches the mount and closes the volume, flushing it.
func (m *mounted) unmount() {
	if m.srv == nil {
		return
	}
	if err := m.srv.Unmount(); err != nil {
		// A test's open file keeps the mount busy for a moment.
		time.Sleep(100 * time.Millisecond)
		if err := m.srv.Unmount(); err != nil {
			syscall.Unmount(m.dir, syscall.MNT_DETACH)
		}
	}
	m.srv.Wait()
	if err := m.vol.Close(context.Background()); err != nil && !m.closeMayFail {
		m.t.Errorf("closing the volume: %v", err)
	}
	m.srv = nil
}

func (m *mounted) path(p string) string { return filepath.Join(m.dir, p) }
