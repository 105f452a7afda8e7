package remotetest

import (
	"context"
	"errors"
	"io/fs"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Memory is an object store in memory for unit tests, with the calls it
// took counted; Fail, when set, makes every Put fail with it, and Slow
// delays every Get.
type Memory struct {
	mu   sync.Mutex
	objs map[string][]byte
	Fail error
	Slow time.Duration

	Gets, Puts atomic.Int64
}

// NewMemory is an empty store.
func NewMemory() *Memory { return &Memory{objs: map[string][]byte{}} }

// Put stores a copy of data.
func (m *Memory) Put(_ context.Context, name string, data []byte) error {
	m.Puts.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.Fail != nil {
		return m.Fail
	}
	m.objs[name] = append([]byte(nil), data...)
	return nil
}

// Get returns a copy of an object (fs.ErrNotExist if none).
func (m *Memory) Get(_ context.Context, name string) ([]byte, error) {
	m.Gets.Add(1)
	time.Sleep(m.Slow)
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.objs[name]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return append([]byte(nil), b...), nil
}

// GetRange returns a copy of n bytes of an object from off (fewer where it ends).
func (m *Memory) GetRange(ctx context.Context, name string, off, n int64) ([]byte, error) {
	if off < 0 || n < 0 {
		return nil, errors.New("negative range")
	}
	b, err := m.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	off = min(off, int64(len(b)))
	return b[off:min(off+n, int64(len(b)))], nil
}

// Replace stores a copy of data under name, over what is there.
func (m *Memory) Replace(_ context.Context, name string, data []byte) error {
	m.Set(name, data)
	return nil
}

// Delete removes an object; a missing one is not an error.
func (m *Memory) Delete(_ context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.objs, name)
	return nil
}

// List calls fn for each object under prefix.
func (m *Memory) List(_ context.Context, prefix string, fn func(string, int64) error) error {
	m.mu.Lock()
	var names []string
	sizes := map[string]int64{}
	for n, b := range m.objs {
		if strings.HasPrefix(n, prefix+"/") {
			names = append(names, n)
			sizes[n] = int64(len(b))
		}
	}
	m.mu.Unlock()
	for _, n := range names {
		if err := fn(n, sizes[n]); err != nil {
			return err
		}
	}
	return nil
}

// Set puts data under name as it is, bypassing Fail: a remote's own change.
func (m *Memory) Set(name string, data []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if data == nil {
		delete(m.objs, name)
		return
	}
	m.objs[name] = data
}

// Has reports whether name is stored.
func (m *Memory) Has(name string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.objs[name]
	return ok
}
