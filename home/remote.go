package home

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/anchorfs/anchorfs/remote"
)

// ErrSeveralRemotes refuses a config with more than one remote.
var ErrSeveralRemotes = fmt.Errorf("erasure coding across several remotes is not supported yet: give one --remote")

// AbsoluteRemote makes a local-path spec absolute, so the volume can be
// reached from any working folder later; rclone specs with a colon stay.
func AbsoluteRemote(spec string) (string, error) {
	if strings.Contains(spec, ":") {
		return spec, nil
	}
	return filepath.Abs(spec)
}

// OpenStore opens the volume's remote, the one that config c names.
func OpenStore(ctx context.Context, c Config, logf func(string, ...any)) (*remote.Store, error) {
	if len(c.Remotes) > 1 {
		return nil, ErrSeveralRemotes
	}
	spec := ""
	if len(c.Remotes) == 1 {
		spec = c.Remotes[0]
	}
	return remote.Open(ctx, spec, remote.Options{ConfigPath: c.RcloneConfig, Logf: logf})
}
