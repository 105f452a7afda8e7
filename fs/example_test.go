package fs_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/anchorfs/anchorfs/fs/volume"
)

var makeExample = flag.String("make-example", "", "write a new example volume under testdata/volumes/NAME")

// exampleCheck lists what an example volume must still show.
const exampleCheck = `export TZ=UTC
find . | sort
md5sum hello.txt data/big data/sparse linked
readlink data/link
stat -c '%n %s %a %h %F %Y' hello.txt data data/big data/sparse data/link linked
python3 -c 'import os; print(sorted((k, os.getxattr("hello.txt", k)) for k in os.listxattr("hello.txt")))'
`

// exampleWrite fills a new example volume.
const exampleWrite = `printf 'hello, anchorfs\n' > hello.txt
mkdir data && head -c 1200000 /dev/zero | tr '\0' 'a' > data/big && printf 'tail' >> data/big
dd if=hello.txt of=data/sparse bs=1 seek=3000000 status=none
ln -s ../hello.txt data/link && ln data/big linked
python3 -c 'import os; os.setxattr("hello.txt", "user.k", b"v")'
chmod 600 hello.txt && touch -d '2026-01-02 03:04:05' hello.txt data/big data/sparse data
`

// TestExampleVolumes mounts every volume checked in under
// testdata/volumes (one per released format) and checks its content: a
// newer build must read what an older one wrote.
func TestExampleVolumes(t *testing.T) {
	if *makeExample != "" {
		writeExample(t, filepath.Join("testdata", "volumes", *makeExample))
	}
	dirs, _ := filepath.Glob(filepath.Join("testdata", "volumes", "*"))
	if len(dirs) == 0 {
		t.Fatal("no example volumes in testdata/volumes")
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			store := copyStore(t, filepath.Join(dir, "remote"))
			unwrap := ageUnwrap(t, filepath.Join(dir, "identity.txt"))
			v, err := volume.Open(context.Background(), store, unwrap, volume.Options{CacheDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			v.Close(context.Background())
			m := mountWith(t, store, t.TempDir(), unwrap)
			want, _ := os.ReadFile(filepath.Join(dir, "expected.txt"))
			if got := sh(t, m.dir, exampleCheck); got != string(want) {
				t.Fatalf("example volume %s reads differently:\n--- want\n%s\n--- got\n%s", dir, want, got)
			}
			// It stays writable in its own format: changes made now read
			// back after a remount, and verify finds nothing wrong.
			sh(t, m.dir, "printf 'changed' | dd of=data/big bs=1 seek=1000000 conv=notrunc status=none && echo new > new.txt")
			m.unmount()
			m = mountWith(t, store, t.TempDir(), unwrap)
			if got := sh(t, m.dir, "cat new.txt && dd if=data/big bs=1 skip=999999 count=9 status=none"); got != "new\nachangeda" {
				t.Fatalf("example volume %s after writing: %q", dir, got)
			}
			if f, err := m.vol.Verify(context.Background(), "/", nil); err != nil || len(f) != 0 {
				t.Fatalf("verify after writing: %+v %v", f, err)
			}
			if c, err := volume.ReadConfig(context.Background(), store); err != nil || fmt.Sprint(c.Format) != strings.TrimPrefix(filepath.Base(dir), "v") {
				t.Fatalf("the volume's format after writing: %+v %v", c, err)
			}
		})
	}
}

func ageUnwrap(t *testing.T, path string) func([]byte) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	id, err := age.ParseX25519Identity(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return func(w []byte) ([]byte, error) {
		r, err := age.Decrypt(bytes.NewReader(w), id)
		if err != nil {
			return nil, err
		}
		return io.ReadAll(r)
	}
}

func writeExample(t *testing.T, dir string) {
	id, _ := age.GenerateX25519Identity()
	if err := os.MkdirAll(filepath.Join(dir, "remote"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "identity.txt"), []byte(id.String()+"\n"), 0o644)
	store := openLocal(t, filepath.Join(dir, "remote"))
	wrap := func(k []byte) ([]byte, error) {
		var b bytes.Buffer
		w, err := age.Encrypt(&b, id.Recipient())
		if err != nil {
			return nil, err
		}
		w.Write(k)
		w.Close()
		return b.Bytes(), nil
	}
	if _, err := volume.Create(context.Background(), store, wrap, volume.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	m := mountWith(t, store, t.TempDir(), ageUnwrap(t, filepath.Join(dir, "identity.txt")))
	sh(t, m.dir, exampleWrite)
	m.unmount()
	m2 := mountWith(t, store, t.TempDir(), ageUnwrap(t, filepath.Join(dir, "identity.txt")))
	os.WriteFile(filepath.Join(dir, "expected.txt"), []byte(sh(t, m2.dir, exampleCheck)), 0o644)
}

// copyStore copies a checked-in remote to a temporary folder, so tests never change it.
func copyStore(t *testing.T, src string) localStore {
	dst := t.TempDir()
	if out, err := exec.Command("cp", "-a", src+"/.", dst).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	return openLocal(t, dst)
}
