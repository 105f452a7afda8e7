package remote_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anchorfs/anchorfs/remote"
	"github.com/anchorfs/anchorfs/remote/remotetest"
)

// stores opens one store of each kind the tests cover.
func stores(t *testing.T) map[string]*remote.Store {
	ctx := context.Background()
	out := map[string]*remote.Store{}
	specs := map[string]string{
		"local":  t.TempDir(),
		"webdav": remotetest.ServeWebDAV(t, t.TempDir()).Spec,
		"sftp":   remotetest.ServeSFTP(t, t.TempDir()).Spec,
	}
	for kind, spec := range specs {
		s, err := remote.Open(ctx, spec, remote.Options{})
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		t.Cleanup(func() { s.Close() })
		out[kind] = s
	}
	return out
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	for kind, s := range stores(t) {
		t.Run(kind, func(t *testing.T) {
			data := bytes.Repeat([]byte("x"), 100000)
			names := []string{"objects/ab/ab01", "objects/cd/cd02", "heads/h1", "config"}
			for _, n := range names {
				if err := s.Put(ctx, n, data); err != nil {
					t.Fatal(err)
				}
			}
			// Immutable objects: a second Put is a no-op success.
			if err := s.Put(ctx, names[0], data); err != nil {
				t.Fatal(err)
			}
			got, err := s.Get(ctx, names[1])
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("get: %d bytes, %v", len(got), err)
			}
			var listed []string
			if err := s.List(ctx, "objects", func(name string, size int64) error {
				if size != int64(len(data)) {
					t.Errorf("%s: size %d", name, size)
				}
				listed = append(listed, name)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			sort.Strings(listed)
			if fmt.Sprint(listed) != "[objects/ab/ab01 objects/cd/cd02]" {
				t.Fatalf("list: %v", listed)
			}
			if err := s.List(ctx, "nothing-here", func(string, int64) error { return errors.New("called") }); err != nil {
				t.Fatalf("list of a missing folder: %v", err)
			}
			if err := s.Delete(ctx, names[0]); err != nil {
				t.Fatal(err)
			}
			if err := s.Delete(ctx, names[0]); err != nil {
				t.Fatalf("deleting a missing object: %v", err)
			}
			if _, err := s.Get(ctx, names[0]); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("get of a deleted object: %v", err)
			}
		})
	}
}

func TestConcurrentPuts(t *testing.T) {
	ctx := context.Background()
	s, err := remote.Open(ctx, t.TempDir(), remote.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.Put(ctx, fmt.Sprintf("objects/%02x/o%d", i%4, i), []byte(fmt.Sprint(i)))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	s.List(ctx, "", func(string, int64) error { n++; return nil })
	if n != 64 {
		t.Fatalf("%d objects listed, want 64", n)
	}
}

func TestConfiguredRemote(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(t.TempDir(), "rclone.conf")
	os.WriteFile(conf, []byte("[vault]\ntype = local\n"), 0o600)
	ctx := context.Background()
	s, err := remote.Open(ctx, "vault:"+dir, remote.Options{ConfigPath: conf})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "config", []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "config")); string(b) != "hi" {
		t.Fatalf("configured remote wrote elsewhere: %q", b)
	}
	if _, err := remote.Open(ctx, "nosuch:x", remote.Options{ConfigPath: conf}); err == nil || !strings.Contains(err.Error(), "nosuch") {
		t.Fatalf("unknown remote name: %v", err)
	}
}

func TestUnreachableRemoteIsAClearError(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := remote.Open(ctx, ":webdav,url='http://127.0.0.1:1':", remote.Options{Retries: 1})
	if err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("unreachable remote: %v", err)
	}
}

// TestPutRetriesAcrossARestart stops the server while a Put is retrying; the
// Put succeeds once the server is back.
func TestPutRetriesAcrossARestart(t *testing.T) {
	ctx := context.Background()
	srv := remotetest.ServeWebDAV(t, t.TempDir())
	s, err := remote.Open(ctx, srv.Spec, remote.Options{Retries: 8})
	if err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	done := make(chan error)
	go func() { done <- s.Put(ctx, "objects/aa/after-restart", []byte("survived")) }()
	time.Sleep(500 * time.Millisecond)
	srv.Start()
	if err := <-done; err != nil {
		t.Fatalf("put across a restart: %v", err)
	}
	if b, err := s.Get(ctx, "objects/aa/after-restart"); err != nil || string(b) != "survived" {
		t.Fatalf("after restart: %q %v", b, err)
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		":sftp,host=h,user=u,pass=s3cr3t:dir":              ":sftp,host=h,user=u,pass=***:dir",
		":s3,access_key_id=A,secret_access_key=XYZ:bucket": ":s3,access_key_id=A,secret_access_key=***:bucket",
		":webdav,url='http://h:1',password='p:w':x":        ":webdav,url='http://h:1',password=***:x",
		"/srv/vault": "/srv/vault",
	} {
		if got := remote.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestAnObjectTooLargeIsRefused: a remote that serves (or claims) an object
// bigger than any the drive writes does not decide how much a reader holds:
// Get refuses it, before reading, with ErrTooLarge.
func TestAnObjectTooLargeIsRefused(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := remote.Open(ctx, dir, remote.Options{MaxObjectSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	os.MkdirAll(filepath.Join(dir, "objects"), 0o700)
	os.WriteFile(filepath.Join(dir, "objects", "big"), bytes.Repeat([]byte("x"), 1001), 0o600)
	os.WriteFile(filepath.Join(dir, "objects", "fits"), bytes.Repeat([]byte("x"), 1000), 0o600)
	if _, err := s.Get(ctx, "objects/big"); !errors.Is(err, remote.ErrTooLarge) {
		t.Fatalf("an object over the bound: %v", err)
	}
	if b, err := s.Get(ctx, "objects/fits"); err != nil || len(b) != 1000 {
		t.Fatalf("an object at the bound: %d bytes, %v", len(b), err)
	}
	// A sparse file the size of a disk: refused from its size alone.
	f, _ := os.Create(filepath.Join(dir, "objects", "huge"))
	f.Truncate(1 << 40)
	f.Close()
	s2, _ := remote.Open(ctx, dir, remote.Options{})
	defer s2.Close()
	if _, err := s2.Get(ctx, "objects/huge"); !errors.Is(err, remote.ErrTooLarge) {
		t.Fatalf("a 1 TiB object: %v", err)
	}
}

// TestRangedReads: GetRange returns the bytes asked for on every kind of
// remote, fewer at the object's end, none past it, ErrNotExist for a
// missing object; on a local folder, many objects read at once and again
// (more than it keeps open) read right, and a removed object is gone.
func TestRangedReads(t *testing.T) {
	ctx := context.Background()
	data := make([]byte, 10000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	for kind, s := range stores(t) {
		t.Run(kind, func(t *testing.T) {
			if err := s.Put(ctx, "objects/ab/ab01", data); err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct{ off, n, want int64 }{{0, 10, 10}, {4112, 4112, 4112}, {9990, 100, 10}, {10000, 5, 0}, {20000, 5, 0}} {
				got, err := s.GetRange(ctx, "objects/ab/ab01", c.off, c.n)
				if err != nil || int64(len(got)) != c.want || !bytes.Equal(got, data[min(c.off, 10000):min(c.off+c.want, 10000)]) {
					t.Fatalf("range %d+%d: %d bytes, %v", c.off, c.n, len(got), err)
				}
			}
			if _, err := s.GetRange(ctx, "objects/ff/ff00", 0, 10); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("a missing object: %v", err)
			}
			if _, err := s.GetRange(ctx, "objects/ab/ab01", -1, 10); err == nil {
				t.Fatal("a negative offset was taken")
			}
		})
	}
	s := stores(t)["local"]
	const objects = 1100 // more than a local remote keeps open
	for i := range objects {
		if err := s.Put(ctx, fmt.Sprintf("objects/%02x/%06x", i%256, i), append([]byte(fmt.Sprint(i, ":")), data...)); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := range 2 {
				for i := w; i < objects; i += 4 {
					want := fmt.Sprint(i, ":")
					got, err := s.GetRange(ctx, fmt.Sprintf("objects/%02x/%06x", i%256, i), 0, int64(len(want)))
					if err != nil || string(got) != want {
						errs <- fmt.Errorf("round %d, object %d: %q %v", round, i, got, err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "objects/00/000000"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetRange(ctx, "objects/00/000000", 0, 1); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a removed object: %v", err)
	}
}

// TestLargeObjectsOfALocalFolder: a local folder's chunks are read whole
// with direct I/O where the file system has it (readDirect): every byte
// comes back, whatever the size's alignment, and where it is refused the
// page cache answers the same.
func TestLargeObjectsOfALocalFolder(t *testing.T) {
	ctx := context.Background()
	for _, dir := range []string{t.TempDir(), shmDir(t)} {
		s, err := remote.Open(ctx, dir, remote.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, size := range []int{256 << 10, 256<<10 + 1, 1<<20 + 4112*3 + 17} {
			data := make([]byte, size)
			rand.Read(data)
			name := fmt.Sprintf("objects/%02x/%x", size%256, size)
			if err := s.Put(ctx, name, data); err != nil {
				t.Fatal(err)
			}
			if got, err := s.Get(ctx, name); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("%s: %d bytes of %d, %v", dir, len(got), size, err)
			}
		}
	}
}

// shmDir is a folder on tmpfs, where direct I/O may be refused; the
// test's own folder where there is none.
func shmDir(t *testing.T) string {
	d, err := os.MkdirTemp("/dev/shm", "anchorfs-remote-test")
	if err != nil {
		return t.TempDir()
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}
