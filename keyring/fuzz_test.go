package keyring_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/anchorfs/anchorfs/keyring"
)

// FuzzLoad opens a keyring whose identity file holds arbitrary bytes: it
// loads or says the keyring is damaged or the passphrase wrong, and never
// panics.
func FuzzLoad(f *testing.F) {
	plain := f.TempDir()
	if _, err := keyring.Create(plain, nil); err != nil {
		f.Fatal(err)
	}
	entries, _ := os.ReadDir(plain)
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join(plain, e.Name()))
		f.Add(e.Name(), b)
	}
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		dir := t.TempDir()
		for _, e := range entries {
			if e.Name() == name || name == "" {
				os.WriteFile(filepath.Join(dir, e.Name()), data, 0o600)
			} else {
				b, _ := os.ReadFile(filepath.Join(plain, e.Name()))
				os.WriteFile(filepath.Join(dir, e.Name()), b, 0o600)
			}
		}
		keyring.Load(dir, nil)
		keyring.Load(dir, []byte("a passphrase"))
	})
}
