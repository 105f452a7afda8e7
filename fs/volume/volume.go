// Package volume is the encrypted tree under the mount: files, folders, manifests and their objects on a remote.
package volume

import (
	"context"
	"errors"

	"github.com/anchorfs/anchorfs/network"
)

// ObjectStore is where a volume keeps its ciphertext objects; *remote.Store
// is one. Get of a missing object returns an error wrapping io/fs.ErrNotExist.
type ObjectStore interface {
	Put(ctx context.Context, name string, data []byte) error
	Get(ctx context.Context, name string) ([]byte, error)
	Delete(ctx context.Context, name string) error
	List(ctx context.Context, prefix string, fn func(name string, size int64) error) error
}

// Config is the public part of a volume, readable without keys.
type Config struct {
	Format    int    `json:"format"`
	Volume    string `json:"volume"`
	ChunkSize int    `json:"chunkSize"`
}

// CreateOptions shape a new volume.
type CreateOptions struct {
	// ChunkSize is the plaintext size of a chunk; 0 means the default.
	ChunkSize int
}

// Options shape an opened volume.
type Options struct {
	// CacheDir holds the volume's local state (write-back objects, metadata
	// cache); deleting it loses nothing that was synced.
	CacheDir string
	// Ledger anchors file versions; nil runs without a ledger.
	Ledger network.Ledger
	// Actor is this user's ledger identity, Host this machine's name (used in
	// conflict copy names).
	Actor, Host string
	// ReadOnly opens without taking the cache lock or writing anything.
	ReadOnly bool
	// Logf receives diagnostics; nil discards them. Never given secrets.
	Logf func(format string, args ...any)
}

// Progress reports a long operation's advance.
type Progress struct {
	Phase       string
	Done, Total int64
}

// Stats are a volume's pending work.
type Stats struct {
	PendingUploads int   `json:"uploads"`
	PendingBytes   int64 `json:"bytes"`
	PendingAnchors int   `json:"anchors"`
}

// Finding is one problem verify found.
type Finding struct {
	Path    string `json:"path"`
	Problem string `json:"problem"`
}

// Volume is an open volume.
type Volume struct {
	id string
}

// ReadConfig reads a volume's public config from store.
func ReadConfig(ctx context.Context, store ObjectStore) (Config, error) {
	return Config{}, errors.New("volume: not implemented")
}

// Create writes a new, empty volume to store. wrap encrypts the new root key
// for its owner (keyring.WrapKey); the result is stored with the config.
func Create(ctx context.Context, store ObjectStore, wrap func(key []byte) ([]byte, error), opt CreateOptions) (Config, error) {
	return Config{}, errors.New("volume: not implemented")
}

// Open opens the volume on store; unwrap recovers the root key from the
// wrapped copy stored with the config (keyring's Identity.UnwrapKey).
func Open(ctx context.Context, store ObjectStore, unwrap func(wrapped []byte) ([]byte, error), opt Options) (*Volume, error) {
	return nil, errors.New("volume: not implemented")
}

// ID is the volume's id.
func (v *Volume) ID() string { return v.id }

// Stats reports pending work.
func (v *Volume) Stats() Stats { return Stats{} }

// Sync returns once everything written so far is on the remote and, with a
// ledger, anchored.
func (v *Volume) Sync(ctx context.Context, progress func(Progress)) error {
	return errors.New("volume: not implemented")
}

// Verify checks every object below path ("" or "/" for all) and reports findings.
func (v *Volume) Verify(ctx context.Context, path string, progress func(Progress)) ([]Finding, error) {
	return nil, errors.New("volume: not implemented")
}

// GC deletes objects no longer referenced by the volume.
func (v *Volume) GC(ctx context.Context, progress func(Progress)) (removed int, freed int64, err error) {
	return 0, 0, errors.New("volume: not implemented")
}

// Close flushes everything and releases the volume.
func (v *Volume) Close(ctx context.Context) error { return nil }
