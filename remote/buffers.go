package remote

import (
	"sync"
	"unsafe"
)

// Whole objects read with direct I/O (chunks) go into buffers taken back
// from the readers done with them (Recycle), not into new ones: a new
// buffer is zeroed by Go and later collected, a fifth of a cold
// sequential read's CPU on this repository's machine.

// directAlign is the alignment direct I/O needs of a buffer, an offset and
// a length on the file systems Linux has (the largest logical block size).
const directAlign = 4096

// recycled holds buffers given back, by size; sync.Pool lets the garbage
// collector take those nobody asks for again.
var recycled sync.Map // int (cap) -> *sync.Pool of *[]byte

// Recycle gives back b, a buffer Get returned or one its holder owns
// alone, for a later whole-object read of the same size: its holder, and
// everyone it handed the bytes to, must be done with them. Buffers of a
// size no read asked for, or not fit for direct I/O, are left to the
// garbage collector.
func Recycle(b []byte) {
	size := cap(b)
	if size < directMin || size%directAlign != 0 || uintptr(unsafe.Pointer(unsafe.SliceData(b[:1])))%directAlign != 0 {
		return
	}
	if pool, ok := recycled.Load(size); ok {
		b = b[:size]
		pool.(*sync.Pool).Put(&b)
	}
}

// readBuffer is a buffer of size bytes (a multiple of directAlign), aligned
// for direct I/O: a recycled one, or a new zeroed one.
func readBuffer(size int) []byte {
	pool, ok := recycled.Load(size)
	if !ok {
		pool, _ = recycled.LoadOrStore(size, &sync.Pool{})
	}
	if b, ok := pool.(*sync.Pool).Get().(*[]byte); ok {
		return *b
	}
	return alignedBuffer(size)
}

// alignedBuffer is a zeroed buffer of size bytes whose start is aligned
// for direct I/O.
func alignedBuffer(size int) []byte {
	raw := make([]byte, size+directAlign)
	off := int(-uintptr(unsafe.Pointer(&raw[0])) & (directAlign - 1))
	return raw[off : off+size : off+size]
}
