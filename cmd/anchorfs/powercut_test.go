package main

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestAPowerCutAfterSyncLosesNothing: the remote is a local folder on a
// file system of its own (ext4 on a loop device, journal commits held back);
// files are written and `anchorfs sync` returns; the device is then copied
// as it is, which is what a power cut would leave of it: what the file
// system had not yet written back is not in the copy. Mounted from that
// copy, another home of the owner reads every file as it was written.
func TestAPowerCutAfterSyncLosesNothing(t *testing.T) {
	needRoot(t)
	for _, tool := range []string{"mkfs.ext4", "losetup"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("SKIP: needs %s", tool)
		}
	}
	dir := t.TempDir()
	img, cut, remote := filepath.Join(dir, "remote.img"), filepath.Join(dir, "cut.img"), filepath.Join(dir, "remote")
	os.Mkdir(remote, 0o755)
	if out, ok := sh(fmt.Sprintf("truncate -s 256M %s && mkfs.ext4 -q -F %s && mount -o loop,commit=600 %s %s", img, img, img, remote)); !ok {
		t.Skipf("SKIP: cannot mount an ext4 image: %s", out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", remote).Run() })

	env := []string{"ANCHORFS_HOME=" + filepath.Join(dir, "home"), "ANCHORFS_PASSPHRASE="}
	mustRun(t, env, "init", "--remote", remote)
	mnt := mountBackground(t, env)
	want := map[string][]byte{}
	for i := range 20 {
		b := make([]byte, 100+i*300)
		rand.Read(b)
		want[fmt.Sprintf("small-%02d", i)] = b
	}
	big := make([]byte, 3<<20+12345)
	rand.Read(big)
	want["big"] = big
	for name, b := range want {
		if err := os.WriteFile(filepath.Join(mnt, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mustRun(t, env, "sync")
	// The power cut: the device as it is now, without the file system's
	// dirty pages.
	if out, ok := sh(fmt.Sprintf("cp --sparse=always %s %s", img, cut)); !ok {
		t.Fatalf("copying the device: %s", out)
	}
	unmountAndWait(t, env, mnt)
	if out, ok := sh(fmt.Sprintf("umount %s && mount -o loop %s %s", remote, cut, remote)); !ok {
		t.Fatalf("mounting what the power cut left: %s", out)
	}
	second := secondHome(t, env, remote)
	got := mountBackground(t, second)
	for name, b := range want {
		g, err := os.ReadFile(filepath.Join(got, name))
		if err != nil || !bytes.Equal(g, b) {
			t.Errorf("%s after the power cut: %d bytes of %d, %v", name, len(g), len(b), err)
		}
	}
}
