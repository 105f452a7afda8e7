//go:build linux

package remote

import (
	"errors"
	"io"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// readDirect reads the whole file at path, n bytes long, with O_DIRECT:
// from the disk into the buffer returned, without filling the page cache
// with ciphertext the mount keeps decrypted in caches of its own (a cold
// sequential read spent a seventh of its CPU there), in a buffer Recycle
// took back if it has one of the size. ok is false where the file system
// refuses direct I/O, or the file is not n bytes long: read it through the
// page cache then.
func readDirect(path string, n int) ([]byte, bool) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_DIRECT, 0)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	buf := readBuffer((n + directAlign - 1) / directAlign * directAlign)
	k, err := io.ReadAtLeast(f, buf, n)
	if err != nil || k != n {
		Recycle(buf)
		return nil, false
	}
	return buf[:n], true // its capacity is the buffer's, for Recycle: not to append to
}

// writeDirect writes data to a new file at path with O_DIRECT, from the
// buffer to the disk without the page cache (on this repository's machine
// a buffered write of 1 GiB cost 3.5 CPU-seconds in the kernel, a direct
// one 0.3), and flushes it (fdatasync). The last partial block goes from a
// zeroed block of its own and the file is cut to len(data) after. ok is
// false where the file system refuses direct I/O; nothing is left at path
// then, nor after an error.
func writeDirect(path string, data []byte) (ok bool, err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_DIRECT, 0o666)
	if errors.Is(err, syscall.EINVAL) {
		return false, nil
	}
	if err != nil {
		return true, err
	}
	whole := len(data) &^ (directAlign - 1)
	body := data[:whole]
	if whole > 0 && uintptr(unsafe.Pointer(&data[0]))&(directAlign-1) != 0 {
		body = alignedBuffer(whole)
		copy(body, data)
	}
	_, err = f.Write(body)
	if err == nil && whole < len(data) {
		tail := alignedBuffer(directAlign)
		copy(tail, data[whole:])
		if _, err = f.WriteAt(tail, int64(whole)); err == nil {
			err = f.Truncate(int64(len(data)))
		}
	}
	if err == nil {
		err = unix.Fdatasync(int(f.Fd()))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		if errors.Is(err, syscall.EINVAL) {
			return false, nil // open took O_DIRECT, the write did not
		}
		return true, err
	}
	return true, nil
}

// syncFS flushes the file system that holds dir to its disk (syncfs).
func syncFS(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return unix.Syncfs(int(d.Fd()))
}

// readAround asks the kernel to read the aligned readAroundSize window
// that holds bytes [off, off+n) of f into the page cache, in the request
// that fetches them: the window's other segments are then read from
// memory, as a file system's own blocks around a read are.
func readAround(f *os.File, off, n int64) {
	lo, hi := off&^(readAroundSize-1), (off+n+readAroundSize-1)&^(readAroundSize-1)
	unix.Fadvise(int(f.Fd()), lo, hi-lo, unix.FADV_WILLNEED) //nolint:errcheck // a hint
}
