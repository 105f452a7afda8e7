package format

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
)

// In format 2 a chunk object is a run of segments, each SegmentSize bytes of
// plaintext sealed on its own, so that a read of a few bytes fetches and
// opens only the segments that hold them. Each sealing of a chunk has a
// random seal id, recorded in the manifest: the segments are sealed with a
// key derived from the file key and the seal id, with the segment's number
// as nonce, so a segment of another sealing, or of another place, does not
// open.

const (
	// SegmentSize is the plaintext of one segment: a page, the unit of the
	// kernel's reads.
	SegmentSize = 4096
	// SealedSegmentSize is a whole segment sealed: its plaintext and tag.
	SealedSegmentSize = SegmentSize + TagSize
	// SealIDSize is the size of a seal id.
	SealIDSize = 16
)

// purposeSeal derives the key of one sealing of a chunk from the file key.
const purposeSeal = "seal"

// kindSegment is the AAD label of a chunk's segment.
const kindSegment = "segment"

// SealID names one sealing of a chunk.
type SealID [SealIDSize]byte

// NewSealID returns a random seal id.
func NewSealID() SealID {
	var s SealID
	if _, err := rand.Read(s[:]); err != nil {
		panic(err)
	}
	return s
}

// ParseSealID parses 32 lowercase hex digits.
func ParseSealID(s string) (SealID, error) {
	var id SealID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != SealIDSize || hex.EncodeToString(b) != s {
		return id, fmt.Errorf("bad seal id %q", s)
	}
	copy(id[:], b)
	return id, nil
}

func (s SealID) String() string { return hex.EncodeToString(s[:]) }

// SegmentedSize is the size of the object a chunk of n plaintext bytes seals to.
func SegmentedSize(n int) int { return n + (n+SegmentSize-1)/SegmentSize*TagSize }

// SegmentSpan is where plaintext bytes [off, off+n) of a chunk of size
// bytes are: segments first to first+count-1, which are bytes [objOff,
// objOff+objLen) of its object. off+n must not pass size.
func SegmentSpan(size, off, n int) (first, count, objOff, objLen int) {
	first = off / SegmentSize
	end := min((off+n+SegmentSize-1)/SegmentSize*SegmentSize, size)
	count = (end - first*SegmentSize + SegmentSize - 1) / SegmentSize
	objOff = first * SealedSegmentSize
	return first, count, objOff, SegmentedSize(end) - objOff
}

// SegmentAAD binds segment segment of a chunk to its volume, file, sealing,
// the version it was sealed in and its index in the file.
func SegmentAAD(volume, file ID, seal SealID, version, index, segment uint64) []byte {
	return aad(kindSegment, volume, append(file[:], seal[:]...), version, index, segment)
}

// ChunkSealer seals, or opens, the segments of one sealing of a chunk. It
// is safe for concurrent use.
type ChunkSealer struct {
	aead cipher.AEAD
	aad  []byte // SegmentAAD of segment 0; each call rewrites a copy's segment number
}

// NewChunkSealer is the sealer of chunk index of file, sealed in version
// with seal id seal, under the file's key.
func NewChunkSealer(fileKey []byte, volume, file ID, seal SealID, version, index uint64) *ChunkSealer {
	return &ChunkSealer{
		aead: gcm(DeriveKey(fileKey, volume, purposeSeal, seal[:])),
		aad:  SegmentAAD(volume, file, seal, version, index, 0),
	}
}

// segmentParams are the nonce and AAD of one segment, rewritten per segment.
type segmentParams struct {
	nonce [NonceSize]byte
	aad   []byte
}

func (c *ChunkSealer) params() *segmentParams {
	return &segmentParams{aad: append([]byte(nil), c.aad...)}
}

// at sets the nonce and AAD for segment i: the nonce is four zero bytes and
// i big-endian (each sealing has its own key, so nonces never repeat under one).
func (p *segmentParams) at(i int) {
	binary.BigEndian.PutUint64(p.nonce[4:], uint64(i))
	binary.BigEndian.PutUint64(p.aad[len(p.aad)-8:], uint64(i))
}

// Seal appends the chunk plaintext pt, sealed segment by segment, to dst.
func (c *ChunkSealer) Seal(dst, pt []byte) []byte {
	p := c.params()
	for i := 0; len(pt) > 0; i++ {
		n := min(len(pt), SegmentSize)
		p.at(i)
		dst = c.aead.Seal(dst, p.nonce[:], pt[:n], p.aad)
		pt = pt[n:]
	}
	return dst
}

// OpenInPlace opens sealed, the object's bytes from segment first on, in
// whole segments (the last may be the chunk's short one), in sealed's own
// memory: it returns the plaintext, which overwrites sealed.
func (c *ChunkSealer) OpenInPlace(first int, sealed []byte) ([]byte, error) {
	p := c.params()
	n := 0 // plaintext bytes so far, at the start of sealed
	for i, at := first, 0; at < len(sealed); i++ {
		end := min(at+SealedSegmentSize, len(sealed))
		if end-at <= TagSize {
			return nil, ErrAuth
		}
		p.at(i)
		pt, err := c.aead.Open(sealed[at:at], p.nonce[:], sealed[at:end], p.aad)
		if err != nil {
			return nil, ErrAuth
		}
		n += copy(sealed[n:], pt)
		at = end
	}
	return sealed[:n], nil
}
