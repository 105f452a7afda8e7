package main

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// volumePath is the path in the volume that a command's PATH argument
// names: a path inside this home's running mount (absolute, or relative to
// a working folder inside it) is taken from the mount point; any other
// absolute path is a path in the volume already, and any other relative
// path is relative to the volume's root.
func (s *settings) volumePath(arg string) string {
	mp := ""
	if c := dialMount(s); c != nil {
		if r, err := c.info(); err == nil {
			mp = r.Mountpoint
		} else {
			fmt.Fprintf(os.Stderr, "anchorfs: the running mount did not say where it is mounted (%v): %s is taken as a path in the volume\n", err, arg)
		}
	}
	if mp != "" {
		p := arg
		if !filepath.IsAbs(p) {
			if wd, err := os.Getwd(); err == nil {
				p = filepath.Join(wd, p)
			}
		}
		if rel, ok := under(mp, p); ok {
			return rel
		}
		if real, err := filepath.EvalSymlinks(mp); err == nil && real != mp {
			if rel, ok := under(real, p); ok { // the mount point's path through a link (/tmp on macOS)
				return rel
			}
		}
	}
	return path.Clean("/" + filepath.ToSlash(arg))
}

// under is p as a path in the volume mounted at mp, if p is inside it.
func under(mp, p string) (string, bool) {
	p = filepath.Clean(p)
	rel, err := filepath.Rel(mp, p)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		if real, err := filepath.EvalSymlinks(filepath.Dir(p)); err == nil && real != filepath.Dir(p) {
			return under(mp, filepath.Join(real, filepath.Base(p)))
		}
		return "", false
	}
	return path.Clean("/" + filepath.ToSlash(rel)), true
}
