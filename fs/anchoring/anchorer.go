package anchoring

import (
	"context"
	"errors"
	"fmt"

	"github.com/anchorfs/anchorfs/network"
)

// Tree is what anchoring needs of the tree it anchors for.
type Tree interface {
	// Uploaded returns once the uploads up to generation gen are on the remote.
	Uploaded(ctx context.Context, gen uint64) error
	// Conflict keeps ours, a version the ledger refused as stale (theirs is
	// its latest), as a conflict copy; an error leaves it queued.
	Conflict(ours network.Anchor, theirs *network.Anchor) error
}

// Submit anchors one batch once its manifests are on the remote and handles
// each outcome: committed, already there, or stale (a conflict).
func Submit(ctx context.Context, ob *Outbox, l network.Ledger, t Tree, batch []Entry, logf func(string, ...any)) error {
	var gen uint64
	var anchors []network.Anchor
	var heads []network.Head
	for _, e := range batch {
		gen = max(gen, e.gen)
		if e.Head != nil {
			heads = append(heads, *e.Head)
		} else {
			anchors = append(anchors, e.Anchor)
		}
	}
	if err := t.Uploaded(ctx, gen); err != nil {
		return err
	}
	results, err := l.AnchorBatch(ctx, anchors, heads...)
	if err != nil {
		return err
	}
	if len(results) != len(anchors)+len(heads) {
		return fmt.Errorf("ledger answered %d results for %d anchors and %d heads", len(results), len(anchors), len(heads))
	}
	done := map[string]bool{}
	for i, h := range heads {
		if err := results[len(anchors)+i].Err; err != nil {
			// Denied or malformed: it will not pass by retrying.
			logf("the ledger refused head %s: %v", h.Hash, err)
		}
		done[Entry{Head: &heads[i]}.key()] = true
	}
	var later error
	for i, r := range results[:len(anchors)] {
		a := anchors[i]
		switch {
		case r.Err == nil:
			done[anchorKey(a)] = true
		case errors.Is(r.Err, network.ErrStale) && r.Current != nil &&
			r.Current.Version == a.Version && r.Current.ManifestHash == a.ManifestHash:
			done[anchorKey(a)] = true // committed by an earlier try
		case errors.Is(r.Err, network.ErrStale) && r.Current != nil && r.Current.Version > a.Version && anchoredBefore(ctx, l, a):
			done[anchorKey(a)] = true // committed by an earlier run, and followed since
		case errors.Is(r.Err, network.ErrUnpaid):
			// Kept, and tried again once the lane has reserved more: the
			// writes that made it were acknowledged.
			later = r.Err
		case errors.Is(r.Err, network.ErrStale):
			if err := t.Conflict(a, r.Current); err != nil {
				later = err // kept, and tried again after the anchorer's wait
			} else {
				done[anchorKey(a)] = true
			}
		default:
			// Denied or malformed: it will not pass by retrying. Keep a record
			// and drop it so the rest of the outbox moves on.
			logf("the ledger refused version %d of file %s: %v", a.Version, a.File, r.Err)
			done[anchorKey(a)] = true
		}
	}
	ob.Done(done)
	return later
}

// anchoredBefore reports whether the ledger's history of a's file holds a
// itself: an earlier run anchored it, and stopped before the outbox said so.
func anchoredBefore(ctx context.Context, l network.Ledger, a network.Anchor) bool {
	hist, err := l.History(ctx, a.Volume, a.File)
	if err != nil {
		return false
	}
	for _, h := range hist {
		if h.Version == a.Version && h.ManifestHash == a.ManifestHash {
			return true
		}
	}
	return false
}

// Verdict is what the ledger says of the version a tree has of a file.
type Verdict int

const (
	// Unknown: the ledger could not be asked now (logged); the version is
	// served, as a ledger that is down delays checks as it delays anchors.
	Unknown Verdict = iota
	// Anchored: it is the ledger's latest, and need not be asked again.
	Anchored
	// Queued: not anchored yet (newer than the ledger's, or refused and
	// waiting in the outbox to become a conflict copy): served as it is.
	Queued
	// Superseded: the ledger has a newer version, or another of the same
	// number (a concurrent writer's, anchored first): that one is read.
	Superseded
)

// Check compares version (with manifest) of file with the ledger's latest;
// for Superseded it returns the latest.
func Check(ctx context.Context, l network.Ledger, ob *Outbox, volume, file string, version uint64, manifest string, logf func(string, ...any)) (Verdict, network.Anchor) {
	latest, err := l.Latest(ctx, volume, file)
	switch {
	case errors.Is(err, network.ErrNotFound):
		return Queued, latest // not anchored yet: the version is in an outbox
	case err != nil:
		logf("ledger check of file %s skipped: %v", file, err)
		return Unknown, latest
	case latest.Version == version && latest.ManifestHash == manifest:
		return Anchored, latest
	case latest.Version == version && ob != nil && ob.Holds(file, version, manifest):
		return Queued, latest // ours lost to another writer's: the anchorer keeps it as a conflict copy
	case latest.Version < version:
		return Queued, latest // newer than the ledger's: waiting in an outbox
	}
	return Superseded, latest
}
