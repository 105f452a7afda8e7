package fs_test

import (
	"context"
	"testing"

	"github.com/anchorfs/anchorfs/remote"
	"github.com/anchorfs/anchorfs/remote/remotetest"
)

// TestNetworkRemotes runs the tool script on volumes whose remote is
// rclone's own WebDAV and SFTP servers on 127.0.0.1, then remounts from an
// empty cache.
func TestNetworkRemotes(t *testing.T) {
	for kind, serve := range map[string]func(testing.TB, string) *remotetest.Server{
		"webdav": remotetest.ServeWebDAV,
		"sftp":   remotetest.ServeSFTP,
	} {
		t.Run(kind, func(t *testing.T) {
			srv := serve(t, t.TempDir())
			store, err := remote.Open(context.Background(), srv.Spec, remote.Options{})
			if err != nil {
				t.Fatal(err)
			}
			newVolume(t, store)
			m := mount(t, store, t.TempDir())
			want := sh(t, t.TempDir(), toolScript)
			if got := sh(t, m.dir, toolScript); got != want {
				t.Fatalf("over %s the mount behaves unlike a plain folder:\n%s\n---\n%s", kind, want, got)
			}
			check := "md5sum rnd sparse a.txt hard; find . | sort"
			before := sh(t, m.dir, check)
			m.unmount()
			m2 := mount(t, store, t.TempDir())
			if after := sh(t, m2.dir, check); after != before {
				t.Fatalf("after a remount over %s:\n%s\n---\n%s", kind, before, after)
			}
		})
	}
}
