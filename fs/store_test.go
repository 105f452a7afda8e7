package fs_test

import (
	"context"
	"os"
	"testing"

	"github.com/anchorfs/anchorfs/remote"
)

// localStore is a real rclone local-folder remote and the folder behind it.
type localStore struct {
	*remote.Store
	root string
}

// openLocal opens the folder dir as a remote.
func openLocal(t testing.TB, dir string) localStore {
	t.Helper()
	s, err := remote.Open(context.Background(), dir, remote.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return localStore{Store: s, root: dir}
}

// newTestStore is a fresh local-folder remote.
func newTestStore(t *testing.T) localStore { return openLocal(t, t.TempDir()) }

func mkdirAll(p string) error { return os.MkdirAll(p, 0o755) }
