package volume

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/anchorfs/anchorfs/fs/format"
	"github.com/anchorfs/anchorfs/fs/objects"
)

// LoadConfig reads the volume's whole config from store, checked.
func LoadConfig(ctx context.Context, store ObjectStore) (*format.Config, error) {
	return readConfig(ctx, store)
}

// StoreConfig writes config c to each of remotes, the volume's storage
// nodes in the order of c.Nodes: first the node's marker (remote j is node
// c.Nodes[j]), then the config. A nil remote is skipped (a node that is
// down). On one remote (no c.Nodes) it writes the config only.
func StoreConfig(ctx context.Context, c *format.Config, remotes []objects.Remote) error {
	if err := c.Validate(); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(c, "", "  ")
	for j, r := range remotes {
		if r == nil {
			continue
		}
		if j < len(c.Nodes) {
			m, _ := json.Marshal(format.NodeMarker{Volume: c.Volume, Node: c.Nodes[j]})
			if err := r.Replace(ctx, format.NodeName, m); err != nil {
				return fmt.Errorf("remote %v: %w", r, err)
			}
		}
		if err := r.Replace(ctx, format.ConfigName, b); err != nil {
			return fmt.Errorf("remote %v: %w", r, err)
		}
		if err := objects.Flush(ctx, r); err != nil {
			return fmt.Errorf("remote %v: %w", r, err)
		}
	}
	return nil
}

// Rewrite gives every file a new version in the volume's current layout:
// its chunks sealed anew and cut across the storage nodes as the config
// now says (what a reshard does). The ids of the files done are appended
// to the file at donePath, and files listed there are skipped, so a
// rewrite stopped halfway goes on from where it was. It commits and syncs
// at the end, and returns how many files it rewrote.
func (v *Volume) Rewrite(ctx context.Context, donePath string, progress func(Progress)) (int, error) {
	if v.rootKey == nil {
		return 0, ErrNotOwner
	}
	if v.opt.ReadOnly {
		return 0, ErrReadOnly
	}
	done := map[string]bool{}
	if b, err := os.ReadFile(donePath); err == nil {
		for _, id := range strings.Fields(string(b)) {
			done[id] = true
		}
	}
	log, err := os.OpenFile(donePath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return 0, err
	}
	defer log.Close()
	var files []visit
	err = v.walk(ctx, "/", func(vi visit) error {
		if vi.typ == format.TypeFile && vi.version > 0 && !done[vi.n.id.String()] {
			files = append(files, vi)
		}
		return nil
	}, func(p string, err error) {
		v.logf("rewrite: %s: %v (skipped)", p, err)
	})
	if err != nil {
		return 0, err
	}
	rewritten, logged := 0, 0
	report := newFileProgress("rewriting", progress, files)
	for i, vi := range files {
		if err := ctx.Err(); err != nil {
			return rewritten, err
		}
		if err := v.resealFile(vi.n, nil); err != nil {
			return rewritten, fmt.Errorf("%s: %w", vi.path, err)
		}
		rewritten++
		if (i+1)%64 == 0 || i == len(files)-1 {
			// What the log says is done must be stored first.
			if err := v.Sync(ctx, nil); err != nil {
				return rewritten, err
			}
			for _, f := range files[logged : i+1] {
				fmt.Fprintln(log, f.n.id.String())
			}
			logged = i + 1
			if err := log.Sync(); err != nil {
				return rewritten, err
			}
		}
		report.did(i, vi)
	}
	return rewritten, v.Sync(ctx, nil)
}
