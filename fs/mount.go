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

// Server is a live mount.
type Server struct{}

// Serve mounts v at dir and returns once the mount is live.
func Serve(v *volume.Volume, dir string, opt MountOptions) (*Server, error) {
	return nil, errors.New("fs: not implemented")
}

// Wait blocks until the file system is unmounted.
func (m *Server) Wait() {}

// Unmount asks the kernel to detach the mount.
func (m *Server) Unmount() error { return errors.New("fs: not implemented") }
