// Package keyring keeps a user's identity and wraps folder keys for recipients.
package keyring

import (
	"crypto/ed25519"
	"errors"

	"filippo.io/age"
)

// ErrWrongPassphrase is returned by Load when the passphrase does not open the keyring.
var ErrWrongPassphrase = errors.New("wrong passphrase")

// ErrNoIdentity is returned by Load when the folder holds no identity.
var ErrNoIdentity = errors.New("no identity")

// Identity is a user's secret half: an age X25519 identity that folder keys
// are wrapped for, and an Ed25519 key that signs ledger transactions.
type Identity struct {
	x25519  *age.X25519Identity
	signing ed25519.PrivateKey
}

// Public is the printable half of an Identity that others share with.
type Public struct {
	Recipient  *age.X25519Recipient
	SigningKey ed25519.PublicKey
}

// Exists reports whether dir holds an identity.
func Exists(dir string) bool { return false }

// IsProtected reports whether the identity in dir is passphrase protected.
func IsProtected(dir string) (bool, error) { return false, errors.New("keyring: not implemented") }

// Create makes a new identity in dir, protected by passphrase (empty: by
// file mode only). It refuses to overwrite an existing identity.
func Create(dir string, passphrase []byte) (*Identity, error) {
	return nil, errors.New("keyring: not implemented")
}

// Load opens the identity in dir.
func Load(dir string, passphrase []byte) (*Identity, error) {
	return nil, errors.New("keyring: not implemented")
}

// Public returns the shareable half.
func (id *Identity) Public() Public { return Public{} }

// Sign signs msg with the identity's Ed25519 key.
func (id *Identity) Sign(msg []byte) []byte { return nil }

// Certificate is a self-signed X.509 certificate (DER) for the signing key,
// used as the caller's identity by the embedded ledger.
func (id *Identity) Certificate() []byte { return nil }

// WrapKey encrypts key so that only the given recipients can unwrap it.
func WrapKey(key []byte, to ...Public) ([]byte, error) {
	return nil, errors.New("keyring: not implemented")
}

// UnwrapKey decrypts a key wrapped for this identity.
func (id *Identity) UnwrapKey(wrapped []byte) ([]byte, error) {
	return nil, errors.New("keyring: not implemented")
}

// String is the one-line printable identity.
func (p Public) String() string { return "" }

// LedgerID is the stable name the ledger knows this identity by.
func (p Public) LedgerID() string { return "" }

// ParsePublic reads a printable identity, checking its binding signature.
func ParsePublic(s string) (Public, error) {
	return Public{}, errors.New("keyring: not implemented")
}
