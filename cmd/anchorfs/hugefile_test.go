package main

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// rssMiB reads a process's resident memory from /proc.
func rssMiB(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.Atoi(f[1])
			return kb >> 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// TestAHugeTruncateCannotExhaustMemory: truncate to a petabyte fails with
// EFBIG (past the documented largest file) instead of growing the mount
// until the OOM killer ends it, and a 10 GiB sparse file costs holes only.
func TestAHugeTruncateCannotExhaustMemory(t *testing.T) {
	needRoot(t)
	env := newHome(t, "")
	w := newWriter(t, "huge", env)
	before := rssMiB(t, w.pid)
	out, ok := sh("truncate -s 999999999999999 " + w.mnt + "/huge 2>&1")
	if ok || !strings.Contains(out, "File too large") {
		t.Fatalf("truncate to a petabyte: %v %s", ok, out)
	}
	if out, ok := sh("truncate -s 10G " + w.mnt + "/sparse && stat -c %s " + w.mnt + "/sparse"); !ok || strings.TrimSpace(out) != "10737418240" {
		t.Fatalf("a 10 GiB sparse file: %v %s", ok, out)
	}
	w.sync()
	if out, ok := sh("dd if=" + w.mnt + "/sparse bs=1M skip=10239 count=1 2>/dev/null | tr -d '\\0' | wc -c"); !ok || strings.TrimSpace(out) != "0" {
		t.Fatalf("the last MiB of the sparse file: %v %q", ok, out)
	}
	if after := rssMiB(t, w.pid); after > before+64 {
		t.Fatalf("the mount grew from %d to %d MiB", before, after)
	}
}

// TestANameOver255BytesIsTooLong: every call that takes a name answers
// ENAMETOOLONG for one of 256 bytes, as local file systems do.
func TestANameOver255BytesIsTooLong(t *testing.T) {
	needRoot(t)
	env := newHome(t, "")
	mnt := mountBackground(t, env)
	long := strings.Repeat("n", 256)
	ok255 := strings.Repeat("n", 255)
	if out, ok := sh("cd " + mnt + " && touch " + ok255 + " && echo x > f && mkdir d"); !ok {
		t.Fatalf("255 bytes: %s", out)
	}
	for _, cmd := range []string{"touch " + long, "mkdir " + long, "ln -s f " + long, "ln f " + long, "mv f " + long, "cat " + long, "stat " + long} {
		out, ok := sh("cd " + mnt + " && " + cmd + " 2>&1")
		if ok || !strings.Contains(out, "File name too long") {
			t.Errorf("%s: %v %s", cmd[:strings.Index(cmd, " ")], ok, out)
		}
	}
}

// TestMemoryComesBackAfterManySmallFiles follows issue 11's sequence:
// twenty thousand small files made and removed, then writes of 1 GiB; the
// mount's resident memory stays under 1 GiB (its budget: docs/CLI.md)
// instead of growing by twice each write.
func TestMemoryComesBackAfterManySmallFiles(t *testing.T) {
	needRoot(t)
	env := newHome(t, "")
	w := newWriter(t, "mem", env)
	script := `import os
os.makedirs("many", exist_ok=True)
for i in range(20000):
    with open("many/%d" % i, "w") as f: f.write("small file %d\n" % i)`
	if out, ok := sh("cd " + w.mnt + " && python3 -c '" + script + "'"); !ok {
		t.Fatal(out)
	}
	w.sync()
	if out, ok := sh("rm -rf " + w.mnt + "/many"); !ok {
		t.Fatal(out)
	}
	w.sync()
	for i := 0; i < 2; i++ {
		if out, ok := sh("head -c 1G /dev/urandom > " + w.mnt + "/big" + strconv.Itoa(i)); !ok {
			t.Fatal(out)
		}
		w.sync()
		if rss := rssMiB(t, w.pid); rss > 1024 {
			t.Fatalf("after %d writes of 1 GiB the mount holds %d MiB", i+1, rss)
		}
	}
}

// TestAHundredThousandFilesInOneFolder: a folder of 100,000 names is made,
// listed and read back after a remount from an empty cache, each mount
// within its memory budget.
func TestAHundredThousandFilesInOneFolder(t *testing.T) {
	needRoot(t)
	env := newHome(t, "")
	w := newWriter(t, "wide", env)
	script := `import os
os.makedirs("wide", exist_ok=True)
for i in range(100000):
    os.close(os.open("wide/f%06d" % i, os.O_CREAT | os.O_WRONLY, 0o644))
with open("wide/f099999", "w") as f: f.write("last\n")`
	if out, ok := sh("cd " + w.mnt + " && python3 -c '" + script + "'"); !ok {
		t.Fatal(out)
	}
	w.sync()
	if rss := rssMiB(t, w.pid); rss > 1024 {
		t.Fatalf("with 100,000 files in a folder the mount holds %d MiB", rss)
	}
	w.unmount()
	os.RemoveAll(homeOf(env) + "/cache")
	w.mount()
	if out, ok := sh("ls -f " + w.mnt + "/wide | wc -l && cat " + w.mnt + "/wide/f099999"); !ok || out != "100000\nlast\n" {
		t.Fatalf("the folder after a remount: %v %q", ok, out)
	}
	if rss := rssMiB(t, w.pid); rss > 1024 {
		t.Fatalf("reading a folder of 100,000 files the mount holds %d MiB", rss)
	}
}
