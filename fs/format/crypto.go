// Package format is the on-remote format of a volume: key derivation, sealed objects and their encodings.
package format

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
)

// Volume formats. Version is the format of the volumes this build creates;
// it reads and writes Version1 volumes too. Format 2 changed chunk objects
// and manifests only (segmented chunks, docs/FORMAT.md): folder objects,
// link tables and heads are MetaVersion in both.
const (
	Version1    = 1
	Version     = 2
	MetaVersion = 1
)

const (
	// KeySize is the size of every symmetric key: AES-256.
	KeySize = 32
	// IDSize is the size of volume and node ids: 128 random bits never collide in practice.
	IDSize = 16
	// NonceSize is AES-GCM's standard nonce; random nonces are safe because every
	// file has its own key and no key seals anywhere near 2^32 messages.
	NonceSize = 12
	// TagSize is AES-GCM's authentication tag.
	TagSize = 16
	// Overhead is what sealing adds to a plaintext: nonce in front, tag behind.
	Overhead = NonceSize + TagSize
	// DefaultChunkSize is the plaintext size of a file chunk. 1 MiB matches the
	// kernel's largest FUSE write, keeps a random 4 KiB write to re-sealing at
	// most 1 MiB, and keeps object counts (and per-object remote costs) low.
	DefaultChunkSize = 1 << 20
	// MinChunkSize and MaxChunkSize bound what a volume config may declare.
	MinChunkSize = 4 << 10
	MaxChunkSize = 16 << 20
	// MaxChunks bounds a file's chunks, so its size: 1 TiB at the default
	// chunk size. A file's chunk list (about 32 bytes a chunk in memory, 18
	// in its manifest) is held whole while it is open; the bound keeps that
	// under 50 MiB whatever size a caller asks for.
	MaxChunks = 1 << 20
	// MaxShards bounds the shards of a chunk, and the storage nodes of a
	// volume (remote/shards takes as many).
	MaxShards = 32
)

// ErrAuth means an object failed authentication: it was altered, truncated,
// or sealed for another place.
var ErrAuth = errors.New("object failed authentication")

// ID is a volume or node id.
type ID [IDSize]byte

// NewID returns a random id.
func NewID() ID {
	var id ID
	if _, err := rand.Read(id[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return id
}

// ParseID reads an id from lowercase hex.
func ParseID(s string) (ID, error) {
	var id ID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != IDSize {
		return id, fmt.Errorf("malformed id %q", s)
	}
	copy(id[:], b)
	return id, nil
}

// String is the id in lowercase hex.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// Hash is the SHA-256 of an object's ciphertext, which is also its name.
type Hash [sha256.Size]byte

// HashOf hashes an object.
func HashOf(obj []byte) Hash { return sha256.Sum256(obj) }

// ParseHash reads a hash from lowercase hex.
func ParseHash(s string) (Hash, error) {
	var h Hash
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(h) {
		return h, fmt.Errorf("malformed hash %q", s)
	}
	copy(h[:], b)
	return h, nil
}

// String is the hash in lowercase hex.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// IsZero reports whether h is the zero hash (used for holes).
func (h Hash) IsZero() bool { return h == Hash{} }

// Key purposes, each a distinct HKDF info label.
const (
	purposeFile   = "file"   // per-file content key
	purposeMeta   = "meta"   // manifests, directory objects, link tables, heads
	purposeCheck  = "check"  // key fingerprint stored beside the config
	purposeDomain = "domain" // a shared folder's key of one epoch
)

// DeriveKey derives a sub-key from a folder key with HKDF-SHA256: salt is the
// volume id, info is "anchorfs/v1 " + purpose + 0x00 + id.
func DeriveKey(folderKey []byte, volume ID, purpose string, id []byte) []byte {
	info := append([]byte("anchorfs/v1 "+purpose+"\x00"), id...)
	k, err := hkdf.Key(sha256.New, folderKey, volume[:], string(info), KeySize)
	if err != nil {
		panic(err) // only for lengths HKDF cannot produce
	}
	return k
}

// FileKey is the key that seals a file's chunks.
func FileKey(folderKey []byte, volume, file ID) []byte {
	return DeriveKey(folderKey, volume, purposeFile, file[:])
}

// MetaKey is the key that seals a key domain's metadata objects.
func MetaKey(folderKey []byte, volume ID) []byte {
	return DeriveKey(folderKey, volume, purposeMeta, nil)
}

// DomainKey is the owner's folder key of a shared folder for one key epoch,
// derived from the root key: id is the domain id followed by the epoch as 4
// bytes big-endian. Grantees receive it wrapped, never the root key.
func DomainKey(rootKey []byte, volume, domain ID, epoch uint32) []byte {
	return DeriveKey(rootKey, volume, purposeDomain, binary.BigEndian.AppendUint32(append([]byte{}, domain[:]...), epoch))
}

// KeyCheck is a public fingerprint of a folder key, to tell a wrong key from
// a damaged object.
func KeyCheck(folderKey []byte, volume ID) string {
	return hex.EncodeToString(DeriveKey(folderKey, volume, purposeCheck, nil)[:16])
}

// Object kinds, each a distinct AAD label.
const (
	kindChunk    = "chunk"
	kindManifest = "manifest"
	kindDir      = "dir"
	kindLinks    = "links"
	kindHead     = "head"
	kindLedger   = "ledger"
	kindDeleted  = "deleted"
)

func aad(kind string, volume ID, id []byte, numbers ...uint64) []byte {
	b := make([]byte, 0, 64)
	b = append(b, "anchorfs/v1 "+kind+"\x00"...)
	b = append(b, volume[:]...)
	b = append(b, id...)
	for _, n := range numbers {
		b = binary.BigEndian.AppendUint64(b, n)
	}
	return b
}

// ChunkAAD binds a chunk to its volume, file, the version it was sealed in and its index.
func ChunkAAD(volume, file ID, version, index uint64) []byte {
	return aad(kindChunk, volume, file[:], version, index)
}

// ManifestAAD binds a manifest to its volume, file and version.
func ManifestAAD(volume, file ID, version uint64) []byte {
	return aad(kindManifest, volume, file[:], version)
}

// DirAAD binds a directory object to its volume and directory.
func DirAAD(volume, dir ID) []byte { return aad(kindDir, volume, dir[:]) }

// LinksAAD binds a link table to its volume.
func LinksAAD(volume ID) []byte { return aad(kindLinks, volume, nil) }

// LedgerAAD binds a config's sealed ledger spec to its volume.
func LedgerAAD(volume ID) []byte { return aad(kindLedger, volume, nil) }

// DeletedAAD binds the sealed place of a removed file or folder, in its
// delete event on the ledger, to its volume and the file or folder.
func DeletedAAD(volume, file ID) []byte { return aad(kindDeleted, volume, file[:]) }

// HeadAAD binds a head to its volume.
func HeadAAD(volume ID) []byte { return aad(kindHead, volume, nil) }

// DomainHeadAAD binds a shared folder's head to its volume and domain.
func DomainHeadAAD(volume, domain ID) []byte { return aad(kindHead, volume, domain[:]) }

// Seal encrypts plaintext with AES-256-GCM under key, authenticating aad:
// the object is nonce || ciphertext || tag.
func Seal(key, aad, plaintext []byte) []byte {
	nonce := make([]byte, NonceSize)
	if _, err := rand.Read(nonce); err != nil {
		panic(err)
	}
	return sealWithNonce(key, aad, nonce, plaintext)
}

func sealWithNonce(key, aad, nonce, plaintext []byte) []byte {
	out := make([]byte, NonceSize, NonceSize+len(plaintext)+TagSize)
	copy(out, nonce)
	return gcm(key).Seal(out, out[:NonceSize], plaintext, aad)
}

// Open authenticates and decrypts an object made by Seal.
func Open(key, aad, obj []byte) ([]byte, error) {
	if len(obj) < Overhead {
		return nil, ErrAuth
	}
	g := gcm(key)
	pt, err := g.Open(nil, obj[:NonceSize], obj[NonceSize:], aad)
	if err != nil {
		return nil, ErrAuth
	}
	return pt, nil
}

func gcm(key []byte) cipher.AEAD {
	block, err := aes.NewCipher(key)
	if err != nil {
		panic(err) // keys are always KeySize
	}
	g, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return g
}
