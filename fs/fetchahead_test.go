package fs_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
)

// aheadContent is file i's content in TestReadersOfAFolderInTurn: small
// files held in their manifests, files of a few segments and files of two
// chunks, each its own.
func aheadContent(i int) []byte {
	size := 10 + i
	switch i % 10 {
	case 3:
		size = 9000 + i
	case 7:
		size = 1<<20 + 5000 + i
	}
	return bytes.Repeat([]byte{byte(i)}, size)
}

// TestReadersOfAFolderInTurn: readers of a folder's files one after
// another, on a cold mount, in name order and against it at once, with a
// writer appending to some of them meanwhile, each get every file whole:
// an open that meets the fetch ahead of its manifest shares it, and a
// window of files fetched ahead is never served for another file or
// version.
func TestReadersOfAFolderInTurn(t *testing.T) {
	store := newTestStore(t)
	newVolume(t, store)
	m := mount(t, store, t.TempDir())
	const files = 300
	name := func(i int) string { return m.path(fmt.Sprintf("d/f%03d", i)) }
	if err := os.Mkdir(m.path("d"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range files {
		if err := os.WriteFile(name(i), aheadContent(i), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.vol.Sync(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	m.unmount()

	m = mount(t, store, t.TempDir())
	name = func(i int) string { return m.path(fmt.Sprintf("d/f%03d", i)) }
	appended := func(i int) bool { return i%5 == 4 }
	var wg sync.WaitGroup
	errs := make(chan error, 3*files)
	read := func(order []int) {
		defer wg.Done()
		for _, i := range order {
			if appended(i) {
				continue
			}
			if b, err := os.ReadFile(name(i)); err != nil || !bytes.Equal(b, aheadContent(i)) {
				errs <- fmt.Errorf("file %d: %d bytes, %v", i, len(b), err)
			}
		}
	}
	forward, backward := make([]int, files), make([]int, files)
	for i := range files {
		forward[i], backward[i] = i, files-1-i
	}
	wg.Add(3)
	go read(forward)
	go read(backward)
	go func() {
		defer wg.Done()
		for i := range files {
			if !appended(i) {
				continue
			}
			f, err := os.OpenFile(name(i), os.O_WRONLY|os.O_APPEND, 0)
			if err == nil {
				_, err = f.Write([]byte("+"))
				if cerr := f.Close(); err == nil {
					err = cerr
				}
			}
			if err != nil {
				errs <- fmt.Errorf("appending to file %d: %v", i, err)
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i := range files {
		want := aheadContent(i)
		if appended(i) {
			want = append(want, '+')
		}
		if b, err := os.ReadFile(name(i)); err != nil || !bytes.Equal(b, want) {
			t.Errorf("file %d afterwards: %d bytes, %v", i, len(b), err)
		}
	}
}
