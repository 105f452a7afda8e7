package volume

import (
	"time"

	"github.com/anchorfs/anchorfs/fs/format"
	"github.com/anchorfs/anchorfs/network"
)

// A ledger that tells of versions as they are committed (Fabric's chaincode
// events) lets an open volume learn of versions other writers anchor: a
// file found stale is checked against the ledger again at its next open,
// which takes the newer version, instead of keeping the one it checked.

// follow listens to the ledger's events until the volume closes,
// reconnecting with a growing pause when the stream breaks.
func (v *Volume) follow(f network.Follower) {
	defer v.bg.Done()
	ctx, cancel := v.untilClosed()
	defer cancel()
	wait := time.Second
	for {
		err := f.Follow(ctx, v.learn)
		if ctx.Err() != nil {
			return
		}
		v.logf("following the ledger's events: %v (again in %v)", err, wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(wait*2, time.Minute)
	}
}

// learn takes note of anchored versions: a loaded file of this volume whose
// version is older is checked against the ledger again at its next open.
func (v *Volume) learn(anchors []network.Anchor) {
	newer := map[format.ID]uint64{}
	for _, a := range anchors {
		if a.Volume != v.id.String() {
			continue
		}
		if id, err := format.ParseID(a.File); err == nil {
			newer[id] = max(newer[id], a.Version)
		}
	}
	if len(newer) == 0 {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.eachLoaded(func(n *Node) bool {
		if version, ok := newer[n.id]; ok && version > n.version {
			n.checked = 0
		}
		return true
	})
}
