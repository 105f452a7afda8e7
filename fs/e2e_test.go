package fs_test

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// sh runs a shell script in dir and returns its output; failure fails the test.
func sh(t *testing.T, dir, script string) string {
	t.Helper()
	// The shell changes into dir itself: a child that starts inside this
	// process's own mount (cmd.Dir) can deadlock against the runtime while
	// the mount is served by the process that forked it.
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", `cd "$1" && eval "$2"`, "sh", dir, script)
	cmd.Env = append(os.Environ(), "SEED="+seedFile(t))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("in %s:\n%s\n%s: %v", dir, script, out, err)
	}
	return string(out)
}

var (
	seedOnce sync.Once
	seedPath string
)

// seedFile is 3 MB of random bytes shared by every script of a test run.
func seedFile(t *testing.T) string {
	seedOnce.Do(func() {
		b := make([]byte, 3000000)
		rand.Read(b)
		f, err := os.CreateTemp("", "anchorfs-seed")
		if err != nil {
			t.Fatal(err)
		}
		f.Write(b)
		f.Close()
		seedPath = f.Name()
	})
	return seedPath
}

// toolScript exercises the mount with ordinary tools; its output must be the
// same on the mount as on a plain folder.
const toolScript = `
export TZ=UTC
cp "$SEED" rnd
printf 'hello world\n' > a.txt
cp a.txt b.txt && cp rnd rnd.copy
dd if=/dev/zero of=rnd bs=4096 seek=3 count=2 conv=notrunc status=none
dd if=a.txt of=rnd bs=1 seek=1048570 conv=notrunc status=none
dd if=a.txt of=sparse bs=1 seek=5000000 status=none
printf 'appended\n' >> a.txt
mkdir -p d1/d2/d3 && mv b.txt d1/d2/ && mv d1/d2 d1/moved
mkdir other && mv d1 other/ && mv rnd.copy other/d1/moved/
ln -s a.txt link && ln -s ../a.txt other/dlink && ln a.txt hard
printf 'x' > gone && rm gone && mkdir gonedir && rmdir gonedir
printf 'new\n' > repl && mv -f repl a2.txt && printf 'newer\n' > repl && mv -f repl a2.txt
chmod 640 a.txt && chmod 700 other && touch -d '2001-02-03 04:05:06' hard
truncate -s 100 rnd2 && truncate -s 3 a2.txt
md5sum rnd sparse a.txt a2.txt rnd2 other/d1/moved/b.txt other/d1/moved/rnd.copy hard
readlink link other/dlink
cat link other/dlink
stat -c '%n %s %a %h %F' a.txt hard rnd sparse link other/d1/moved/b.txt
stat -c '%n %a %F' other; stat -c '%n %Y' hard
find . | sort
`

func TestOrdinaryTools(t *testing.T) {
	store := newTestStore(t)
	newVolume(t, store)
	m := mount(t, store, t.TempDir())
	want := sh(t, t.TempDir(), toolScript)
	got := sh(t, m.dir, toolScript)
	if got != want {
		t.Fatalf("the mount behaves unlike a plain folder:\n--- plain\n%s\n--- mount\n%s", want, got)
	}
	check := "md5sum rnd sparse a.txt a2.txt hard other/d1/moved/rnd.copy; readlink link; stat -c '%n %s %a %h %Y' a.txt hard other; find . | sort"
	before := sh(t, m.dir, check)
	m.unmount()
	// A new cache folder: everything comes back from the remote and the key alone.
	m2 := mount(t, store, t.TempDir())
	if after := sh(t, m2.dir, check); after != before {
		t.Fatalf("after a remount from the remote:\n--- before\n%s\n--- after\n%s", before, after)
	}
}

func TestUntarGoroot(t *testing.T) {
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Skipf("SKIP: no go command to find GOROOT: %v", err)
	}
	src := filepath.Join(strings.TrimSpace(string(goroot)), "src")
	if testing.Short() {
		src = filepath.Join(src, "net")
	}
	store := newTestStore(t)
	newVolume(t, store)
	m := mount(t, store, t.TempDir())
	sh(t, m.dir, fmt.Sprintf("tar -C %s -cf - . | tar -xf - && diff -r %s .", src, src))
	m.unmount()
	m2 := mount(t, store, t.TempDir())
	sh(t, m2.dir, fmt.Sprintf("diff -r %s .", src))
}

func TestXattrsSurviveRemount(t *testing.T) {
	store := newTestStore(t)
	newVolume(t, store)
	m := mount(t, store, t.TempDir())
	p := m.path("f")
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(p, "user.color", []byte("blue"), 0); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(p, "trusted.no", []byte("x"), 0); err == nil {
		t.Fatal("a trusted.* xattr was accepted")
	}
	m.unmount()
	m2 := mount(t, store, t.TempDir())
	buf := make([]byte, 64)
	n, err := unix.Getxattr(m2.path("f"), "user.color", buf)
	if err != nil || string(buf[:n]) != "blue" {
		t.Fatalf("xattr after remount: %q, %v", buf[:n], err)
	}
}

func TestParallelWritersAndReader(t *testing.T) {
	store := newTestStore(t)
	newVolume(t, store)
	m := mount(t, store, t.TempDir())
	const writers, size = 4, 3 << 20
	contents := make([][]byte, writers)
	var wg sync.WaitGroup
	errs := make(chan error, writers+1)
	for i := range writers {
		contents[i] = make([]byte, size)
		rand.Read(contents[i])
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, err := os.Create(m.path(fmt.Sprintf("w%d", i)))
			if err != nil {
				errs <- err
				return
			}
			defer f.Close()
			for off := 0; off < size; off += 64 << 10 {
				if _, err := f.Write(contents[i][off : off+64<<10]); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	// A reader of a file being written sees a prefix of what was written.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 50 {
			b, err := os.ReadFile(m.path("w0"))
			if err != nil && !os.IsNotExist(err) {
				errs <- err
				return
			}
			if !bytes.Equal(b, contents[0][:len(b)]) {
				errs <- fmt.Errorf("reader saw %d bytes that are not a prefix of the file", len(b))
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i := range writers {
		b, err := os.ReadFile(m.path(fmt.Sprintf("w%d", i)))
		if err != nil || !bytes.Equal(b, contents[i]) {
			t.Fatalf("writer %d: content differs (%v)", i, err)
		}
	}
}

// TestNoPlaintextLeaves writes names, contents, xattrs and link targets that
// carry a marker and then searches the remote and the whole cache for it.
func TestNoPlaintextLeaves(t *testing.T) {
	const marker = "ZEBRA-MARKER-7f3a"
	store := newTestStore(t)
	newVolume(t, store)
	cache := t.TempDir()
	m := mount(t, store, cache)
	sh(t, m.dir, fmt.Sprintf(`
mkdir %[1]s-dir && printf '%[1]s content %%.0s' $(seq 1 2000) > %[1]s-dir/%[1]s-file
ln -s %[1]s-target %[1]s-link
head -c 2000000 /dev/zero | tr '\0' 'Z' > big && printf '%[1]s' >> big
`, marker))
	if err := unix.Setxattr(m.path("big"), "user."+marker, []byte(marker), 0); err != nil {
		t.Fatal(err)
	}
	m.unmount()
	for _, dir := range []string{store.root, cache} {
		out, _ := exec.Command("grep", "-rl", marker, dir).CombinedOutput()
		if strings.TrimSpace(string(out)) != "" {
			t.Fatalf("plaintext found outside the process:\n%s", out)
		}
	}
}
