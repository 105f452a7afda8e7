package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMountThroughMount8: `mount -t fuse.anchorfs HOME MOUNTPOINT -o ...`
// and an fstab line reach the volume through the mount.fuse.anchorfs
// helper (a link to the binary, as make install makes it), with the
// options' meanings; umount flushes.
func TestMountThroughMount8(t *testing.T) {
	needRoot(t)
	if _, err := exec.LookPath("mount"); err != nil {
		t.Skip("SKIP: no mount(8)")
	}
	helper := "/sbin/" + mountHelperName
	if _, err := os.Lstat(helper); err == nil {
		t.Skipf("SKIP: %s exists already; not replacing it", helper)
	}
	if err := os.Symlink(binary, helper); err != nil {
		t.Skipf("SKIP: cannot link %s: %v", helper, err)
	}
	t.Cleanup(func() { os.Remove(helper) })
	env := newHome(t, "")
	home := homeOf(env)
	mnt := mountBackground(t, env)
	os.WriteFile(mnt+"/hello.txt", []byte("hello"), 0o644)
	unmountAndWait(t, env, mnt)

	mnt = t.TempDir()
	if out, err := exec.Command("mount", "-t", "fuse.anchorfs", home, mnt, "-o", "noatime,ro,allow_other,nofail").CombinedOutput(); err != nil {
		t.Fatalf("mount -t fuse.anchorfs: %v\n%s", err, out)
	}
	t.Cleanup(func() { unmountAndWait(t, env, mnt) })
	table, _ := os.ReadFile("/proc/self/mounts")
	var line string
	for _, l := range strings.Split(string(table), "\n") {
		if strings.Contains(l, " "+mnt+" ") {
			line = l
		}
	}
	if !strings.Contains(line, "fuse.anchorfs ro,") || !strings.Contains(line, "allow_other") {
		t.Fatalf("the mount table's line: %q", line)
	}
	if b, err := os.ReadFile(mnt + "/hello.txt"); err != nil || string(b) != "hello" {
		t.Fatalf("a read through mount(8)'s mount: %q %v", b, err)
	}
	if err := os.WriteFile(mnt+"/x", []byte("x"), 0o644); err == nil {
		t.Fatal("-o ro mounted read-write")
	}
	unmountAndWait(t, env, mnt)

	// An fstab line.
	fstab := filepath.Join(t.TempDir(), "fstab")
	os.WriteFile(fstab, []byte(home+" "+mnt+" fuse.anchorfs noatime,nofail,_netdev,log_level=ERROR,bwlimit=50M:off 0 0\n"), 0o644)
	if out, err := exec.Command("mount", "--fstab", fstab, mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount by an fstab line: %v\n%s", err, out)
	}
	if err := os.WriteFile(mnt+"/from-fstab.txt", []byte("rw"), 0o644); err != nil {
		t.Fatalf("a write through the fstab mount: %v", err)
	}
	if ps, _ := exec.Command("ps", "-eo", "args").Output(); !strings.Contains(string(ps), "--bwlimit 50M:off") || !strings.Contains(string(ps), "--log-level ERROR") {
		t.Fatal("the fstab line's log_level and bwlimit did not reach the mount")
	}
	if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
		t.Fatalf("umount: %s", out)
	}
	if r := anchorfs(t, env, "mount", mnt, "--background"); r.code != 0 {
		t.Fatalf("remount: %+v", r)
	}
	if b, err := os.ReadFile(mnt + "/from-fstab.txt"); err != nil || string(b) != "rw" {
		t.Fatalf("after umount and a mount: %q %v", b, err)
	}
	if _, err := mountHelperArgs([]string{home, mnt, "-o", "bogus"}); err == nil {
		t.Fatal("an unknown option was taken")
	}
}

// TestMakeInstall: make install puts the binary, a man page per command,
// the completions and mount(8)'s helper where they belong.
func TestMakeInstall(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("SKIP: no make")
	}
	dest := t.TempDir()
	if out, err := exec.Command("make", "-C", "../..", "install", "DESTDIR="+dest).CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	for _, f := range []string{"usr/local/bin/anchorfs", "usr/local/share/man/man1/anchorfs.1", "usr/local/share/man/man1/anchorfs-mount.1",
		"usr/local/share/man/man1/anchorfs-audit-report.1", "usr/local/share/bash-completion/completions/anchorfs",
		"usr/local/share/zsh/site-functions/_anchorfs", "usr/local/share/fish/vendor_completions.d/anchorfs.fish"} {
		if st, err := os.Stat(filepath.Join(dest, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	if to, err := os.Readlink(filepath.Join(dest, "sbin", mountHelperName)); err != nil || to != "/usr/local/bin/anchorfs" {
		t.Errorf("the mount helper links to %q (%v)", to, err)
	}
	out, err := exec.Command(filepath.Join(dest, "usr/local/bin/anchorfs"), "--version").Output()
	if err != nil || !strings.HasPrefix(string(out), "anchorfs ") {
		t.Errorf("the installed binary: %q %v", out, err)
	}
}
