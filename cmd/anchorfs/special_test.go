package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSpecialFiles: fifos, unix-domain sockets and device nodes are made,
// listed, stat'ed, renamed, hard-linked, chmod'ed and removed through the
// mount, work while mounted (a fifo passes data, a socket takes a
// connection) and come back after a remount from an empty cache.
func TestSpecialFiles(t *testing.T) {
	needRoot(t)
	env := newHome(t, "")
	mnt := mountBackground(t, env)
	script := `set -e; cd ` + mnt + `
mkfifo p
mknod null c 1 3
mknod blk b 7 0
python3 -c 'import socket; s=socket.socket(socket.AF_UNIX); s.bind("sock")'
chmod 600 p
ln p p2
mv blk blk2
mkfifo gone && rm gone
(echo through the fifo > p &) ; read line < p; echo "$line"
python3 - <<'PY'
import os, socket, threading
s = socket.socket(socket.AF_UNIX); os.unlink("live.sock") if os.path.exists("live.sock") else None
s.bind("live.sock"); s.listen(1)
def serve():
    c, _ = s.accept(); c.sendall(b"hello over the socket"); c.close()
threading.Thread(target=serve).start()
c = socket.socket(socket.AF_UNIX); c.connect("live.sock"); print(c.recv(100).decode())
PY
rm live.sock
stat -c '%n %F %a %h %t:%T' p p2 null blk2 sock`
	out, ok := sh(script)
	if !ok {
		t.Fatalf("special files through the mount:\n%s", out)
	}
	for _, want := range []string{"through the fifo", "hello over the socket", "p fifo 600 2", "p2 fifo 600 2",
		"null character special file 644 1 1:3", "blk2 block special file 644 1 7:0", "sock socket"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	mustRun(t, env, "sync")
	unmountAndWait(t, env, mnt)
	os.RemoveAll(filepath.Join(homeOf(env), "cache"))
	mnt2 := mountBackground(t, env)
	out, ok = sh("cd " + mnt2 + " && stat -c '%n %F %a %h %t:%T' p p2 null blk2 sock && ls gone 2>&1 || true")
	if !ok {
		t.Fatalf("after a remount from an empty cache:\n%s", out)
	}
	for _, want := range []string{"p fifo 600 2", "p2 fifo 600 2", "null character special file 644 1 1:3",
		"blk2 block special file 644 1 7:0", "sock socket", "No such file"} {
		if !strings.Contains(out, want) {
			t.Errorf("after a remount, missing %q in:\n%s", want, out)
		}
	}
}

// TestNamesAreBytes: a name and a symlink target that are not valid UTF-8
// come back byte for byte after a remount from an empty cache.
func TestNamesAreBytes(t *testing.T) {
	needRoot(t)
	env := newHome(t, "")
	mnt := mountBackground(t, env)
	if out, ok := sh("cd " + mnt + " && echo kept > $'bad\\xff.txt' && ln -s $'tar\\xfeget' link"); !ok {
		t.Fatal(out)
	}
	mustRun(t, env, "sync")
	unmountAndWait(t, env, mnt)
	os.RemoveAll(filepath.Join(homeOf(env), "cache"))
	mnt2 := mountBackground(t, env)
	out, ok := sh(`cd ` + mnt2 + ` && python3 -c 'import os; print(sorted(os.listdir(b"."))); print(os.readlink(b"link")); print(open(b"bad\xff.txt").read().strip())'`)
	if !ok || !strings.Contains(out, `b'bad\xff.txt'`) || !strings.Contains(out, `b'tar\xfeget'`) || !strings.Contains(out, "kept") {
		t.Fatalf("after a remount: %s", out)
	}
}

// TestFolderLinkCount is 2 plus the subfolders, also after a remount from
// an empty cache (before the folder is read).
func TestFolderLinkCount(t *testing.T) {
	needRoot(t)
	env := newHome(t, "")
	mnt := mountBackground(t, env)
	if out, ok := sh("cd " + mnt + " && mkdir -p d/a d/b d/c/x && touch d/f && rmdir d/b && stat -c '%h' d d/c d/a"); !ok || strings.Fields(out)[0] != "4" || strings.Fields(out)[1] != "3" || strings.Fields(out)[2] != "2" {
		t.Fatalf("link counts of d, d/c, d/a: %v %q", ok, out)
	}
	mustRun(t, env, "sync")
	unmountAndWait(t, env, mnt)
	os.RemoveAll(filepath.Join(homeOf(env), "cache"))
	mnt2 := mountBackground(t, env)
	if out, ok := sh("stat -c '%h' " + mnt2 + "/d " + mnt2); !ok || strings.Fields(out)[0] != "4" || strings.Fields(out)[1] != "3" {
		t.Fatalf("after a remount, link counts of d and the top: %v %q", ok, out)
	}
}

// TestAccessTimesFollowRelatime: a read renews an access time older than a
// day or than the last change, not one newer than both; it survives a remount from
// an empty cache; with --noatime reads leave it alone.
func TestAccessTimesFollowRelatime(t *testing.T) {
	needRoot(t)
	env := newHome(t, "")
	mnt := mountBackground(t, env)
	stamp := func(dir string) string {
		out, ok := sh("stat -c '%X' " + dir + "/f")
		if !ok {
			t.Fatal(out)
		}
		return strings.TrimSpace(out)
	}
	if out, ok := sh("cd " + mnt + " && echo x > f && touch -a -d '2001-02-03 04:05:06' f"); !ok {
		t.Fatal(out)
	}
	old := stamp(mnt)
	if old != "981173106" && !strings.HasPrefix(old, "9811") {
		t.Fatalf("touch -a set %s", old)
	}
	sh("cat " + mnt + "/f")
	renewed := stamp(mnt)
	if renewed == old {
		t.Fatal("a read did not renew an access time years old")
	}
	// Now newer than the last change and less than a day old: a read leaves it.
	if out, ok := sh("cd " + mnt + " && sleep 1.1 && cat f >/dev/null && stat -c %X f"); !ok || strings.TrimSpace(out) != renewed {
		t.Fatalf("a second read moved a fresh access time from %s: %v %q", renewed, ok, out)
	}
	kept := stamp(mnt)
	mustRun(t, env, "sync")
	unmountAndWait(t, env, mnt)
	os.RemoveAll(filepath.Join(homeOf(env), "cache"))
	mnt2 := t.TempDir()
	mustRun(t, env, "mount", mnt2, "--background", "--noatime")
	t.Cleanup(func() { unmountAndWait(t, env, mnt2) })
	if got := stamp(mnt2); got != kept {
		t.Fatalf("after a remount the access time is %s, was %s", got, kept)
	}
	sh("touch -a -d '2001-02-03 04:05:06' " + mnt2 + "/f && cat " + mnt2 + "/f")
	if got := stamp(mnt2); got == renewed || !strings.HasPrefix(got, "9811") {
		t.Fatalf("with --noatime a read moved the access time to %s", got)
	}
}
