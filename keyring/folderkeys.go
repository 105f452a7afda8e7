package keyring

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"github.com/anchorfs/anchorfs/chaincode/wire"
	"strconv"
	"strings"

	"filippo.io/age"
)

// Folder keys of a shared folder travel to a grantee on the ledger, wrapped
// with age for the grantee's X25519 recipient: the blob is an age file whose
// plaintext is a JSON object from epoch (decimal) to the 32-byte key
// (standard base64). The ledger only ever holds the ciphertext.

// WrapFolderKeys wraps a shared folder's keys, by epoch, for one grantee.
func WrapFolderKeys(keys map[uint32][]byte, to Public) ([]byte, error) {
	m := make(map[string][]byte, len(keys))
	for e, k := range keys {
		m[strconv.FormatUint(uint64(e), 10)] = k
	}
	pt, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return WrapKey(pt, to)
}

// UnwrapFolderKeys opens folder keys wrapped for this identity.
func (id *Identity) UnwrapFolderKeys(blob []byte) (map[uint32][]byte, error) {
	pt, err := id.UnwrapKey(blob)
	if err != nil {
		return nil, err
	}
	var m map[string][]byte
	if err := json.Unmarshal(pt, &m); err != nil {
		return nil, fmt.Errorf("wrapped folder keys are malformed: %w", err)
	}
	out := make(map[uint32][]byte, len(m))
	for s, k := range m {
		e, err := strconv.ParseUint(s, 10, 32)
		if err != nil || e == 0 || len(k) != 32 {
			return nil, fmt.Errorf("wrapped folder keys are malformed")
		}
		out[uint32(e)] = k
	}
	return out, nil
}

// SigningKeyText is the identity's Ed25519 key in unpadded base64url: how
// the ledger names a grantee.
func (p Public) SigningKeyText() string { return b64(p.SigningKey) }

// KeyID is the short, stable name of an identity: the first 16 bytes of
// SHA-256 over its Ed25519 key, in hex (what grants list as the grantee).
func (p Public) KeyID() string { return wire.KeyID(p.SigningKey) }

// PublicFromParts rebuilds a public identity from its age recipient and its
// Ed25519 key (unpadded base64url), as a grant on the ledger holds them. It
// has no binding signature: it serves to wrap keys, not to print.
func PublicFromParts(recipient, signingKey string) (Public, error) {
	r, err := age.ParseX25519Recipient(recipient)
	if err != nil {
		return Public{}, fmt.Errorf("%w: bad recipient", ErrMalformedIdentity)
	}
	key, err := base64.RawURLEncoding.DecodeString(signingKey)
	if err != nil || len(key) != ed25519.PublicKeySize {
		return Public{}, fmt.Errorf("%w: bad signing key", ErrMalformedIdentity)
	}
	return Public{Recipient: r, SigningKey: key}, nil
}

// sealedPrefix marks a text sealed with SealText.
const sealedPrefix = "sealed:"

// SealText encrypts a short text (a folder's path on a grant) so that only
// the given identities can read it: "sealed:" and an age file in unpadded
// base64url. Names never reach the ledger in the clear.
func SealText(text string, to ...Public) (string, error) {
	b, err := WrapKey([]byte(text), to...)
	if err != nil {
		return "", err
	}
	return sealedPrefix + b64(b), nil
}

// OpenText reads a text sealed with SealText for this identity; a text that
// is not sealed is returned as it is.
func (id *Identity) OpenText(s string) (string, error) {
	rest, ok := strings.CutPrefix(s, sealedPrefix)
	if !ok {
		return s, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil {
		return "", fmt.Errorf("a sealed text is malformed")
	}
	pt, err := id.UnwrapKey(b)
	if err != nil {
		return "", err
	}
	return string(pt), nil
}
