// Package fs serves a volume to the kernel through FUSE.
package fs

import (
	"errors"

	"github.com/anchorfs/anchorfs/fs/volume"
)

// MountOptions shape a mount.
type MountOptions struct {
	// AllowOther lets other local users in, under the kernel's ordinary
	// permission checks (default_permissions).
	AllowOther bool
	// Debug logs every FUSE request through Logf.
	Debug bool
	Logf  func(format string, args ...any)
}

// Mount is a live mount.
type Mount struct{}

// Mounted serves v at dir and returns once the mount is live.
func Mounted(v *volume.Volume, dir string, opt MountOptions) (*Mount, error) {
	return nil, errors.New("fs: not implemented")
}

// Wait blocks until the file system is unmounted.
func (m *Mount) Wait() {}

// Unmount asks the kernel to detach the mount.
func (m *Mount) Unmount() error { return errors.New("fs: not implemented") }
