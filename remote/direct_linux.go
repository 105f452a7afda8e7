//go:build linux

package remote

import (
	"io"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// directAlign is the alignment direct I/O needs of a buffer, an offset and
// a length on the file systems Linux has (the largest logical block size).
const directAlign = 4096

// readDirect reads the whole file at path, n bytes long, with O_DIRECT:
// from the disk into the buffer returned, without filling the page cache
// with ciphertext the mount keeps decrypted in caches of its own (a cold
// sequential read spent a seventh of its CPU there). ok is false where the
// file system refuses direct I/O, or the file is not n bytes long: read it
// through the page cache then.
func readDirect(path string, n int) ([]byte, bool) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_DIRECT, 0)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	size := (n + directAlign - 1) / directAlign * directAlign
	raw := make([]byte, size+directAlign)
	off := int(-uintptr(unsafe.Pointer(&raw[0])) & (directAlign - 1))
	buf := raw[off : off+size]
	k, err := io.ReadAtLeast(f, buf, n)
	if err != nil || k != n {
		return nil, false
	}
	return buf[:n:n], true
}

// readAround asks the kernel to read the aligned readAroundSize window
// that holds bytes [off, off+n) of f into the page cache, in the request
// that fetches them: the window's other segments are then read from
// memory, as a file system's own blocks around a read are.
func readAround(f *os.File, off, n int64) {
	lo, hi := off&^(readAroundSize-1), (off+n+readAroundSize-1)&^(readAroundSize-1)
	unix.Fadvise(int(f.Fd()), lo, hi-lo, unix.FADV_WILLNEED) //nolint:errcheck // a hint
}
