package volume

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/anchorfs/anchorfs/fs/format"
	"github.com/anchorfs/anchorfs/network"
)

// RollbackError is a remote that serves an older state of a tree than the
// ledger anchored: no head of the volume (or of one of its shared folders)
// on the remote is the newest anchored head or follows it.
type RollbackError struct {
	Volume string
	Domain string // the shared folder's id; "" for the volume's tree
	// Remote is the remote's newest readable head ("" if it has none).
	Remote    string
	RemoteSeq uint64
	Anchored  network.Head // the ledger's newest head
}

func (e *RollbackError) Error() string {
	what := "volume " + e.Volume
	if e.Domain != "" {
		what = "shared folder " + e.Domain + " of volume " + e.Volume
	}
	remote := "has no readable head"
	if e.Remote != "" {
		remote = fmt.Sprintf("has head %s (seq %d) as its newest", shortHash(e.Remote), e.RemoteSeq)
	}
	return fmt.Sprintf("rollback: the remote serves an earlier state of %s: it %s, but the ledger anchored head %s (seq %d) at %s, which the remote neither has nor follows; what was committed since is missing from it",
		what, remote, shortHash(e.Anchored.Hash), e.Anchored.Seq, e.Anchored.Time.UTC().Format("2006-01-02 15:04:05 UTC"))
}

func shortHash(h string) string { return h[:min(len(h), 16)] }

// checkRollback compares the heads of key domain d read from the remote
// with the newest head the ledger anchored. A ledger that cannot answer
// now leaves the heads unchecked (logged): the ledger being down never
// stops the drive.
func (v *Volume) checkRollback(ctx context.Context, d *domain, heads map[string]*format.Head) error {
	if v.opt.Ledger == nil {
		return nil
	}
	anchored, err := v.opt.Ledger.LatestHead(ctx, v.id.String(), d.ledgerID())
	switch {
	case errors.Is(err, network.ErrNotFound):
		return nil // nothing anchored yet
	case err != nil:
		v.logf("the remote's heads are not compared with the ledger's now (ledger: %v)", err)
		return nil
	case onLineage(anchored, heads):
		return nil
	}
	e := &RollbackError{Volume: v.id.String(), Domain: d.ledgerID(), Anchored: anchored}
	if best, name := newest(heads); best != nil {
		e.Remote, e.RemoteSeq = name, best.Seq
	}
	return e
}

// onLineage reports whether heads (by hash) hold the anchored head or one
// that follows it. A head that names the anchored one among its parents
// or ancestors follows it; so does one with a greater seq whose ancestry
// is full (maxAncestors), as the anchored head may lie beyond what it
// names: seqs only grow along the lineage, and every head the remote
// could hold from before the anchored one has a smaller or equal seq.
func onLineage(anchored network.Head, heads map[string]*format.Head) bool {
	if _, ok := heads[anchored.Hash]; ok {
		return true
	}
	for _, h := range heads {
		if slices.Contains(h.Parents, anchored.Hash) || slices.Contains(h.Ancestors, anchored.Hash) {
			return true
		}
		if len(h.Ancestors) >= maxAncestors && h.Seq > anchored.Seq {
			return true
		}
	}
	return false
}

// verifyHeads checks the heads of the volume and of each shared folder on
// the remote against the ledger, for Verify.
func (v *Volume) verifyHeads(ctx context.Context, report func(string, error)) {
	if v.opt.Ledger == nil {
		return
	}
	v.mu.Lock()
	doms := v.sharedDomains()
	where := map[*domain]string{v.rootDom: "/"}
	for _, d := range doms {
		where[d] = v.pathOf(d.root)
	}
	v.mu.Unlock()
	if v.rootKey != nil {
		doms = append([]*domain{v.rootDom}, doms...)
	}
	for _, d := range doms {
		heads, _, err := v.readHeads(ctx, d)
		if err != nil {
			report(where[d], err)
			continue
		}
		if err := v.checkRollback(ctx, d, heads); err != nil {
			report(where[d], err)
		}
	}
}
