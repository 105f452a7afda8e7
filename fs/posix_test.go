package fs_test

import (
	"testing"

	"github.com/hanwen/go-fuse/v2/posixtest"
)

// posixSkipped are behaviours anchorfs does not offer, each with its reason.
var posixSkipped = map[string]string{
	"DirectIO":            "O_DIRECT is not offered: every read is decrypted in the daemon",
	"FcntlFlockLocksFile": "locks are the kernel's local ones",
	"FcntlFlockSetLk":     "locks are the kernel's local ones",
	"LseekHoleSeeksToEOF": "SEEK_HOLE is not implemented",
	"LseekEnxioCheck":     "SEEK_DATA is not implemented",
}

func TestPosix(t *testing.T) {
	store := newTestStore(t)
	newVolume(t, store)
	m := mount(t, store, t.TempDir())
	for name, fn := range posixtest.All {
		t.Run(name, func(t *testing.T) {
			if why, skip := posixSkipped[name]; skip {
				t.Skip(why)
			}
			dir := t.TempDir()
			_ = dir
			sub := m.path(name)
			if err := mkdirAll(sub); err != nil {
				t.Fatal(err)
			}
			fn(t, sub)
		})
	}
}
