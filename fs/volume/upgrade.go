package volume

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/anchorfs/anchorfs/fs/format"
	"github.com/anchorfs/anchorfs/fs/objects"
)

// UpgradeResult says what Upgrade did.
type UpgradeResult struct {
	From    int `json:"from"`    // the volume's format before
	To      int `json:"to"`      // and after
	Files   int `json:"files"`   // files given a new version in the new layout
	Skipped int `json:"skipped"` // files that were in it already
}

// Upgrade moves the volume to format.Version. The config says so first, so
// that a build that reads only the older format refuses the volume rather
// than meet objects it cannot read; from then on every new version is
// written in the new layout. Then each file whose current version has
// chunks of the older layout gets a new version with all of them sealed
// anew. A file in the new layout already is skipped, so an upgrade stopped
// halfway (a crash, Ctrl-C, a remote gone) goes on from where it was when
// run again. Only the owner's home upgrades: it holds every folder's keys.
func (v *Volume) Upgrade(ctx context.Context, progress func(Progress)) (UpgradeResult, error) {
	res := UpgradeResult{From: v.writeFormat(), To: format.Version}
	if v.rootKey == nil {
		return res, ErrNotOwner
	}
	if v.opt.ReadOnly {
		return res, ErrReadOnly
	}
	if v.writeFormat() < format.Version {
		if err := v.upgradeConfig(ctx); err != nil {
			return res, err
		}
	}
	var files []visit
	err := v.walk(ctx, "/", func(vi visit) error {
		if vi.typ == format.TypeFile && vi.version > 0 {
			files = append(files, vi)
		}
		return nil
	}, func(p string, err error) {
		v.logf("upgrade: %s: %v (skipped)", p, err)
	})
	if err != nil {
		return res, err
	}
	report := newFileProgress("upgrading", progress, files)
	for i, vi := range files {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		m, err := v.readManifest(ctx, vi.n.dom, vi.n.id, vi.version, vi.manifest)
		if err != nil {
			return res, fmt.Errorf("%s: %w", vi.path, err)
		}
		if inLayout(m) {
			res.Skipped++
		} else {
			if err := v.resealFile(vi.n, nil); err != nil {
				return res, fmt.Errorf("%s: %w", vi.path, err)
			}
			res.Files++
		}
		report.did(i, vi)
	}
	return res, v.commit(ctx)
}

// inLayout reports whether every chunk of m is in format.Version's layout.
func inLayout(m *format.Manifest) bool {
	for _, c := range m.Chunks {
		if c.Hash != "" && !c.Segmented() {
			return false
		}
	}
	return true
}

// upgradeConfig rewrites the config with format.Version, and checks that
// the remote serves it back whole (the old one goes back otherwise).
func (v *Volume) upgradeConfig(ctx context.Context) error {
	old, err := v.store.Get(ctx, format.ConfigName)
	if err != nil {
		return fmt.Errorf("reading volume config: %w", err)
	}
	var c format.Config
	if err := json.Unmarshal(old, &c); err != nil {
		return fmt.Errorf("volume config is corrupt: %w", err)
	}
	c.Format = format.Version
	b, _ := json.MarshalIndent(c, "", "  ")
	if err := v.store.Replace(ctx, format.ConfigName, b); err != nil {
		return fmt.Errorf("writing the upgraded config: %w", err)
	}
	if err := objects.Flush(ctx, v.store); err != nil {
		return fmt.Errorf("writing the upgraded config: %w", err)
	}
	if got, err := readConfig(ctx, v.store); err != nil || got.Format != format.Version {
		if rerr := v.store.Replace(ctx, format.ConfigName, old); rerr != nil {
			return fmt.Errorf("the upgraded config does not read back (%v), and putting the old one back failed: %w", err, rerr)
		}
		return fmt.Errorf("the upgraded config does not read back (%v); the old one is back", err)
	}
	v.layout.Store(format.Version)
	return nil
}
