package fs_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/anchorfs/anchorfs/fs"
	"github.com/anchorfs/anchorfs/fs/volume"
	"github.com/anchorfs/anchorfs/keyring"
	"github.com/anchorfs/anchorfs/network/embedded"
	"github.com/anchorfs/anchorfs/remote"
)

// childMount is set in the environment of a test binary re-executed to
// serve a mount in another process: "STORE CACHE MOUNTPOINT".
const childMount = "ANCHORFS_TEST_CHILD_MOUNT"

func TestMain(m *testing.M) {
	if spec := os.Getenv(childMount); spec != "" {
		serveChild(strings.Fields(spec))
		return
	}
	code := m.Run()
	if seedPath != "" {
		os.Remove(seedPath)
	}
	os.Exit(code)
}

// serveChild mounts a volume and serves it until the process is killed.
func serveChild(args []string) {
	store, err := remote.Open(context.Background(), args[0], remote.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	opt := volume.Options{CacheDir: args[1]}
	if len(args) == 5 { // a ledger folder and a keyring folder
		id, err := keyring.Load(args[4], nil)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		l, err := embedded.Open(args[3], id)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		opt.Ledger, opt.Actor = l, id.Public().LedgerID()
		register(store, l)
	}
	v, err := volume.Open(context.Background(), store, selfUnwrap, opt)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	srv, err := fs.Serve(v, args[2], fs.MountOptions{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("mounted")
	srv.Wait()
}

// TestKill9DuringWriteBurst kills the mounting process in the middle of a
// burst of writes: after a remount every fsynced file is there, whole, and
// the volume (ledger included) verifies.
func TestKill9DuringWriteBurst(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIP: mounting needs root")
	}
	store := newTestStore(t)
	newVolume(t, store)
	dir, cache, ledgerDir, keys := t.TempDir(), t.TempDir(), t.TempDir(), t.TempDir()
	id, err := keyring.Create(keys, nil)
	if err != nil {
		t.Fatal(err)
	}
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), childMount+"="+store.root+" "+cache+" "+dir+" "+ledgerDir+" "+keys)
	out, _ := child.StdoutPipe()
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	if n, _ := out.Read(buf); !strings.HasPrefix(string(buf[:n]), "mounted") {
		t.Fatalf("child did not mount: %q", buf[:n])
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })

	content := func(i int) []byte { return bytes.Repeat([]byte(fmt.Sprintf("file %d;", i)), 20000+i) }
	var synced []int
	for i := range 20 {
		f, err := os.Create(fmt.Sprintf("%s/s%d", dir, i))
		if err != nil {
			t.Fatal(err)
		}
		f.Write(content(i))
		if i%2 == 0 {
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
			synced = append(synced, i)
		}
		f.Close()
	}
	// Keep writing (without fsync) while the process dies.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			if err := os.WriteFile(fmt.Sprintf("%s/burst%d", dir, i), content(i), 0o644); err != nil {
				return
			}
		}
	}()
	time.Sleep(300 * time.Millisecond)
	child.Process.Kill()
	child.Wait()
	syscall.Unmount(dir, syscall.MNT_DETACH)
	wg.Wait()

	// The same cache folder: its outbox holds what the child had not anchored yet.
	h := newHome(t, id, ledgerDir)
	m := mountFull(t, store, volume.Options{CacheDir: cache, Ledger: h.ledger, Actor: id.Public().LedgerID(), Logf: t.Logf}, selfUnwrap, fs.MountOptions{})
	if err := m.vol.Sync(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	for _, i := range synced {
		got, err := os.ReadFile(m.path(fmt.Sprintf("s%d", i)))
		if err != nil || !bytes.Equal(got, content(i)) {
			t.Fatalf("fsynced file s%d after kill -9: %d bytes, %v", i, len(got), err)
		}
	}
	findings, err := m.vol.Verify(context.Background(), "/", nil)
	if err != nil || len(findings) > 0 {
		t.Fatalf("verify after kill -9: %+v %v", findings, err)
	}
	if err := embedded.VerifyDir(context.Background(), ledgerDir); err != nil {
		t.Fatalf("the ledger after kill -9: %v", err)
	}
}
