// Package remote stores immutable ciphertext objects on any rclone backend.
package remote

import (
	"context"
	"errors"
)

// Options tune how a Store reaches its backend.
type Options struct {
	// ConfigPath is the rclone.conf to read named remotes from; empty means
	// rclone's own lookup (RCLONE_CONFIG, then ~/.config/rclone/rclone.conf).
	ConfigPath string
	// Retries is how many times a transient failure is retried with
	// exponential backoff; 0 means the default (5).
	Retries int
}

// Store is one rclone remote holding objects under slash-separated names
// such as "objects/ab/ab12...". It is safe for concurrent use.
type Store struct {
	spec string
}

// Open reaches the remote named by spec, in rclone syntax: a local path
// ("/srv/vault"), a configured remote ("name:path"), or a connection string
// (":sftp,host=h,user=u:dir"). It fails with a clear error when the remote
// cannot be reached.
func Open(ctx context.Context, spec string, opt Options) (*Store, error) {
	return nil, errors.New("remote: not implemented")
}

// Put stores data under name. Objects are immutable: putting a name that
// exists with the same size is a no-op.
func (s *Store) Put(ctx context.Context, name string, data []byte) error {
	return errors.New("remote: not implemented")
}

// Get returns the object's bytes; a missing object gives an error wrapping
// io/fs.ErrNotExist.
func (s *Store) Get(ctx context.Context, name string) ([]byte, error) {
	return nil, errors.New("remote: not implemented")
}

// Delete removes the object; a missing object is not an error.
func (s *Store) Delete(ctx context.Context, name string) error {
	return errors.New("remote: not implemented")
}

// List calls fn for every object below prefix (a folder name, "" for all),
// recursively, with names relative to the store's root.
func (s *Store) List(ctx context.Context, prefix string, fn func(name string, size int64) error) error {
	return errors.New("remote: not implemented")
}

// String is the spec with any secrets redacted.
func (s *Store) String() string { return s.spec }

// Close releases the backend's resources.
func (s *Store) Close() error { return nil }
