//go:build !linux

package remote

import (
	"os"

	"golang.org/x/sys/unix"
)

// readDirect is direct I/O, which only Linux has here: the caller reads
// through the page cache.
func readDirect(path string, n int) ([]byte, bool) { return nil, false }

// writeDirect is direct I/O, which only Linux has here: the caller writes
// through the page cache.
func writeDirect(path string, data []byte) (ok bool, err error) { return false, nil }

// syncFS flushes every file system: there is no syncfs here.
func syncFS(dir string) error { return unix.Sync() }

// readAround is a hint only Linux takes here.
func readAround(f *os.File, off, n int64) {}
