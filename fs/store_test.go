package fs_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/anchorfs/anchorfs/fs/volume"
)

type dirStore string

func (d dirStore) Put(ctx context.Context, name string, b []byte) error {
	p := filepath.Join(string(d), name)
	os.MkdirAll(filepath.Dir(p), 0o755)
	return os.WriteFile(p, b, 0o644)
}
func (d dirStore) Get(ctx context.Context, name string) ([]byte, error) {
	return os.ReadFile(filepath.Join(string(d), name))
}
func (d dirStore) Delete(ctx context.Context, name string) error {
	if err := os.Remove(filepath.Join(string(d), name)); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}
func (d dirStore) List(ctx context.Context, prefix string, fn func(string, int64) error) error {
	root := filepath.Join(string(d), prefix)
	return filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return nil
		}
		r, _ := filepath.Rel(string(d), p)
		i, _ := e.Info()
		return fn(r, i.Size())
	})
}

func newTestStore(t *testing.T) volume.ObjectStore { return dirStore(t.TempDir()) }
func mkdirAll(p string) error                      { return os.MkdirAll(p, 0o755) }
