package remote

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	lru "github.com/hashicorp/golang-lru/v2"
)

// openFiles keeps the objects of a local-folder remote that ranged reads
// opened lately, open: a few segments of one object read again cost one
// pread. Objects never change once written; one removed meanwhile (gc)
// still reads as it was, which is what its name says it holds.
type openFiles struct {
	cache *lru.Cache[string, *openFile]
}

// openFile is one open object, closed once it is out of the cache and no
// reader holds it.
type openFile struct {
	mu      sync.Mutex
	f       *os.File
	readers int
	evicted bool
	// asked marks the readAroundSize windows the kernel was asked to
	// read: it is asked once per window while the object stays open (the
	// request cost a random read as much as the read itself). A window
	// the page cache dropped since is read by the read that needs it.
	asked []uint64
}

// maxAskedWindows bounds the windows an open object records (4 GiB of it);
// the windows past it are asked for at every read.
const maxAskedWindows = 1 << 16

// firstAsk marks windows [lo, hi) asked for and reports whether any was
// not yet.
func (o *openFile) firstAsk(lo, hi int64) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if hi > maxAskedWindows {
		return true
	}
	if need := int((hi + 63) / 64); len(o.asked) < need {
		o.asked = append(o.asked, make([]uint64, need-len(o.asked))...)
	}
	news := false
	for w := lo; w < hi; w++ {
		if o.asked[w/64]&(1<<(w%64)) == 0 {
			o.asked[w/64] |= 1 << (w % 64)
			news = true
		}
	}
	return news
}

// readAroundSize is the window of an object a ranged read brings into the
// page cache (readAround), in the one request that fetches the segments
// asked for: 64 KiB read 20.6k random 4 KiB reads a second where 16 KiB
// read 12.1k, on this repository's machine (README).
const readAroundSize = 64 << 10

// maxOpenFiles bounds the descriptors openFiles holds: the chunks of a
// 1 GiB file (Go raises the process's limit to the hard one, commonly far
// above).
const maxOpenFiles = 1024

func newOpenFiles() *openFiles {
	c, _ := lru.NewWithEvict(maxOpenFiles, func(_ string, o *openFile) { // fails only for a size under 1
		o.mu.Lock()
		defer o.mu.Unlock()
		o.evicted = true
		if o.readers == 0 {
			o.f.Close()
		}
	})
	return &openFiles{cache: c}
}

// readAt reads len(b) bytes of the object at path from off, opening it if
// it is not open.
func (c *openFiles) readAt(path string, b []byte, off int64) (int, error) {
	o, err := c.acquire(path)
	if err != nil {
		return 0, err
	}
	defer o.release()
	if lo, hi := off/readAroundSize, (off+int64(len(b))+readAroundSize-1)/readAroundSize; o.firstAsk(lo, hi) {
		readAround(o.f, off, int64(len(b)))
	}
	return o.f.ReadAt(b, off)
}

func (c *openFiles) acquire(path string) (*openFile, error) {
	if o, ok := c.cache.Get(path); ok && o.hold() {
		return o, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	o := &openFile{f: f, readers: 1}
	c.cache.Add(path, o) // an entry another reader added meanwhile goes, closed once released
	return o, nil
}

// hold takes o for a reader unless it is closing.
func (o *openFile) hold() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.evicted {
		return false
	}
	o.readers++
	return true
}

func (o *openFile) release() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.readers--
	if o.evicted && o.readers == 0 {
		o.f.Close()
	}
}

// forget drops path from the cache (its object is removed).
func (c *openFiles) forget(path string) { c.cache.Remove(path) }

// localPut is Put on a local-folder remote for an object of directMin
// bytes or more (a chunk): written under a name of its own with direct I/O
// and flushed to the disk (writeDirect), renamed into place, and its folder
// flushed, as restic's local backend does: a reader never meets part of an
// object, and once Put returns a power cut does not take it. ok is false
// where rclone should write it instead (no direct I/O on this file system).
func (s *Store) localPut(name string, data []byte) (ok bool, err error) {
	path := s.localPath(name)
	if st, err := os.Stat(path); err == nil && st.Mode().IsRegular() && st.Size() == int64(len(data)) {
		if b, err := os.ReadFile(path); err == nil && bytes.Equal(b, data) {
			return true, nil // see holds
		}
	}
	dir := filepath.Dir(path)
	for try := 0; ; try++ {
		tmp := fmt.Sprintf("%s.%d-%d.partial", path, os.Getpid(), partialSeq.Add(1))
		ok, err = writeDirect(tmp, data)
		switch {
		case errors.Is(err, os.ErrNotExist) && try < 3:
			if err := mkdirDurable(dir, s.localRoot); err != nil {
				return true, err
			}
			continue // its folder is new
		case errors.Is(err, os.ErrExist) && try < 3:
			continue // left by a process of the same id that stopped
		case !ok || err != nil:
			return ok, err
		}
		err = os.Rename(tmp, path)
		if errors.Is(err, os.ErrNotExist) && try < 3 {
			continue // gc took it for garbage meanwhile: write it again
		}
		if err != nil {
			os.Remove(tmp)
			return true, err
		}
		return true, syncDir(dir)
	}
}

// partialSeq tells apart the files localPut is writing at once.
var partialSeq atomic.Uint64

// mkdirDurable makes dir and the parents it lacks below root, each
// flushed into its parent.
func mkdirDurable(dir, root string) error {
	parent := filepath.Dir(dir)
	if len(parent) > len(root) {
		if _, err := os.Stat(parent); errors.Is(err, os.ErrNotExist) {
			if err := mkdirDurable(parent, root); err != nil {
				return err
			}
		}
	}
	if err := os.Mkdir(dir, 0o777); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	return syncDir(parent)
}

// syncDir flushes the folder's entries to the disk.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
