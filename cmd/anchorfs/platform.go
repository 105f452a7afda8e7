package main

import (
	"os"
	"runtime"
	"syscall"

	"github.com/anchorfs/anchorfs/keyring"
)

func isDarwin() bool { return runtime.GOOS == "darwin" }

// sameDevice reports whether two files are on one file system: a mount
// point that is not on its parent's device has something mounted on it.
func sameDevice(a, b os.FileInfo) bool {
	sa, ok1 := a.Sys().(*syscall.Stat_t)
	sb, ok2 := b.Sys().(*syscall.Stat_t)
	if !ok1 || !ok2 {
		return true
	}
	return sa.Dev == sb.Dev
}

func isProtected(s *settings) (bool, error) {
	if !keyring.Exists(s.home.KeyringDir()) {
		return false, nil
	}
	return keyring.IsProtected(s.home.KeyringDir())
}
