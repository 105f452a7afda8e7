package fs

import "sync"

// invalidator tells the kernel what changed in the tree other than through
// it, one pass at a time, in its own goroutine: a pass never runs inside a
// FUSE request or under a lock of the volume's.
type invalidator struct {
	root    *node
	mu      sync.Mutex
	running bool
	again   bool
}

// kick asks for a pass (one more, if one is running).
func (in *invalidator) kick() {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.running {
		in.again = true
		return
	}
	in.running = true
	go func() {
		for {
			in.root.invalidate()
			in.mu.Lock()
			if !in.again {
				in.running = false
				in.mu.Unlock()
				return
			}
			in.again = false
			in.mu.Unlock()
		}
	}()
}

// invalidate walks what the kernel knows below folder n: a name that now
// holds another node, or none, is dropped from the kernel's cache; a file
// whose version is not the one the kernel was told of loses its cached
// attributes and pages.
func (n *node) invalidate() {
	for name, child := range n.Children() {
		cn, ok := child.Operations().(*node)
		if !ok {
			continue
		}
		if n.v.Child(n.n, name) != cn.n {
			n.NotifyEntry(name)
			continue
		}
		switch {
		case cn.n.IsDir():
			cn.invalidate()
		case cn.toldVersion.Load() != 0 && cn.toldVersion.Load() != n.v.Version(cn.n)+1:
			cn.cachedVersion.Store(0)
			child.NotifyContent(0, 0)
		}
	}
}
