package volume

import (
	"context"
	"path"
	"sort"
	"strings"
	"syscall"

	"github.com/anchorfs/anchorfs/fs/format"
)

// visit is one node met by walk, with its path in the volume.
type visit struct {
	path string
	n    *Node
	// Snapshot of the node's committed state, taken under the lock.
	typ      string
	version  uint64
	manifest string
	tree     string
	size     int64 // a file's committed size
}

// walk calls fn for every node below start (a path, "" or "/" for the root),
// loading folders as it goes. A folder that cannot be loaded is reported
// through onErr and its subtree skipped.
func (v *Volume) walk(ctx context.Context, start string, fn func(visit) error, onErr func(path string, err error)) error {
	n, err := v.resolve(start)
	if err != nil {
		return err
	}
	stack := []visit{v.snapshot(cleanPath(start), n)}
	for len(stack) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		cur := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if err := fn(cur); err != nil {
			return err
		}
		if cur.typ != format.TypeDir {
			continue
		}
		var kids []visit
		err := v.withTreeCtx(ctx, func() error {
			if err := v.need(cur.n); err != nil {
				return err
			}
			names := make([]string, 0, len(cur.n.entries))
			for name := range cur.n.entries {
				names = append(names, name)
			}
			sort.Sort(sort.Reverse(sort.StringSlice(names)))
			for _, name := range names {
				kids = append(kids, v.snapshotLocked(path.Join(cur.path, name), cur.n.entries[name]))
			}
			return nil
		})
		if err != nil {
			onErr(cur.path, err)
			continue
		}
		stack = append(stack, kids...)
	}
	return nil
}

func cleanPath(p string) string { return path.Clean("/" + p) }

// fileProgress reports work over files one at a time, in files and in
// their bytes.
type fileProgress struct {
	phase        string
	progress     func(Progress)
	total        int
	bytes, sizes int64
}

func newFileProgress(phase string, progress func(Progress), files []visit) *fileProgress {
	p := &fileProgress{phase: phase, progress: progress, total: len(files)}
	for _, f := range files {
		p.sizes += f.size
	}
	return p
}

// did reports that file i of them is done.
func (p *fileProgress) did(i int, f visit) {
	p.bytes += f.size
	if p.progress != nil {
		p.progress(Progress{Phase: p.phase, Done: int64(i + 1), Total: int64(p.total), Bytes: p.bytes, TotalBytes: p.sizes})
	}
}

func (v *Volume) snapshot(p string, n *Node) visit {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.snapshotLocked(p, n)
}

func (v *Volume) snapshotLocked(p string, n *Node) visit {
	return visit{path: p, n: n, typ: n.typ, version: n.version, manifest: n.manifest, tree: n.tree, size: n.size}
}

// resolve finds the node at a slash-separated path.
func (v *Volume) resolve(p string) (*Node, error) {
	n := v.root
	for _, name := range strings.Split(strings.Trim(cleanPath(p), "/"), "/") {
		if name == "" {
			continue
		}
		c, err := v.Lookup(n, name)
		if err != nil {
			if err == syscall.ENOENT {
				return nil, &PathError{Path: p, Problem: "no such file or folder in the volume"}
			}
			return nil, err
		}
		n = c
	}
	return n, nil
}

// PathError is a path that does not name anything in the volume.
type PathError struct{ Path, Problem string }

func (e *PathError) Error() string { return e.Path + ": " + e.Problem }

// FileID returns the id of the file or folder at path.
func (v *Volume) FileID(path string) (string, error) {
	n, err := v.resolve(path)
	if err != nil {
		return "", err
	}
	return n.id.String(), nil
}

// FileIDs are the ids of the file at path, or of the folder and every
// file and folder below it.
func (v *Volume) FileIDs(ctx context.Context, path string) ([]string, error) {
	if _, err := v.resolve(path); err != nil {
		return nil, err
	}
	var out []string
	err := v.walk(ctx, path, func(vi visit) error {
		out = append(out, vi.n.id.String())
		return nil
	}, func(string, error) {})
	return out, err
}

// Paths maps the id of every file and folder to its path (one of them, for
// a file with several names).
func (v *Volume) Paths(ctx context.Context) (map[string]string, error) {
	out := map[string]string{}
	err := v.walk(ctx, "/", func(vi visit) error {
		if _, ok := out[vi.n.id.String()]; !ok {
			out[vi.n.id.String()] = vi.path
		}
		return nil
	}, func(string, error) {})
	return out, err
}
