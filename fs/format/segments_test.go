package format_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"testing"

	"github.com/anchorfs/anchorfs/fs/format"
	"github.com/anchorfs/anchorfs/remote/shards"
)

// vectors2 are format 2's segmented chunk and manifest, from fixed inputs.
type vectors2 struct {
	FileKey     string   `json:"fileKey"`
	MetaKey     string   `json:"metaKey"`
	Seal        string   `json:"seal"`
	SealKey     string   `json:"sealKey"`
	SegmentAADs []string `json:"segmentAADs"`
	Plaintext   string   `json:"plaintext"` // hex
	Chunk       string   `json:"chunk"`     // hex: the segmented object
	ChunkName   string   `json:"chunkName"`
	Manifest    object   `json:"manifest"`
	// InlineManifest is the manifest of a one-segment file, which holds
	// its chunk (sealed with the same seal id as Chunk's first segment).
	InlineManifest object `json:"inlineManifest"`
	// Shards are Chunk cut 2+1 (hex), and ShardedManifest the manifest
	// listing it so, as a volume on three storage nodes writes it.
	Shards          []string `json:"shards"`
	ShardedManifest object   `json:"shardedManifest"`
}

func makeVectors2() vectors2 {
	root := bytes.Repeat([]byte{0x42}, format.KeySize)
	vol, _ := format.ParseID("00112233445566778899aabbccddeeff")
	file, _ := format.ParseID("0123456789abcdef0123456789abcdef")
	seal, _ := format.ParseSealID("a0a1a2a3a4a5a6a7a8a9aaabacadaeaf")
	nonce := mustHex("000102030405060708090a0b")
	fileKey := format.FileKey(root, vol, file)
	metaKey := format.MetaKey(root, vol)
	pt := make([]byte, format.SegmentSize+904) // two segments, the second short
	for i := range pt {
		pt[i] = byte(i * 7)
	}
	chunk := format.NewChunkSealer(fileKey, vol, file, seal, 1, 0).Seal(nil, pt)
	h := format.HashOf(chunk)
	m := format.Manifest{Format: 2, File: file.String(), Version: 1, Size: int64(len(pt)), ChunkSize: format.DefaultChunkSize,
		Chunks: []format.Chunk{{Hash: h.String(), Size: len(pt), Version: 1, Seal: seal.String()}}}
	m.MerkleRoot = format.MerkleRoot(m.Chunks)
	aad := format.ManifestAAD(vol, file, 1)
	mobj := format.SealWithNonce(metaKey, aad, nonce, format.Encode(m))
	small := pt[:25]
	sobj := format.NewChunkSealer(fileKey, vol, file, seal, 1, 0).Seal(nil, small)
	im := format.Manifest{Format: 2, File: file.String(), Version: 1, Size: int64(len(small)), ChunkSize: format.DefaultChunkSize,
		Chunks: []format.Chunk{{Hash: format.HashOf(sobj).String(), Size: len(small), Version: 1, Seal: seal.String(), Data: sobj}}}
	im.MerkleRoot = format.MerkleRoot(im.Chunks)
	imobj := format.SealWithNonce(metaKey, aad, nonce, format.Encode(im))
	parts, err := shards.Layout{K: 2, M: 1}.Split(chunk, format.SealedSegmentSize)
	if err != nil {
		panic(err)
	}
	var shardHex []string
	sm := m
	sm.Chunks = []format.Chunk{m.Chunks[0]}
	sm.Chunks[0].DataShards = 2
	var hs []format.Hash
	for _, p := range parts {
		shardHex = append(shardHex, hex.EncodeToString(p))
		hs = append(hs, format.HashOf(p))
		sm.Chunks[0].Shards = append(sm.Chunks[0].Shards, format.HashOf(p).String())
	}
	sm.Chunks[0].Hash = format.ShardedHash(2, hs).String()
	sm.MerkleRoot = format.MerkleRoot(sm.Chunks)
	smobj := format.SealWithNonce(metaKey, aad, nonce, format.Encode(sm))
	return vectors2{
		Shards: shardHex,
		ShardedManifest: object{AAD: hex.EncodeToString(aad), Plaintext: string(format.Encode(sm)), Object: hex.EncodeToString(smobj),
			Name: format.ObjectName(format.HashOf(smobj))},
		FileKey: hex.EncodeToString(fileKey), MetaKey: hex.EncodeToString(metaKey), Seal: seal.String(),
		SealKey: hex.EncodeToString(format.DeriveKey(fileKey, vol, "seal", seal[:])),
		SegmentAADs: []string{hex.EncodeToString(format.SegmentAAD(vol, file, seal, 1, 0, 0)),
			hex.EncodeToString(format.SegmentAAD(vol, file, seal, 1, 0, 1))},
		Plaintext: hex.EncodeToString(pt), Chunk: hex.EncodeToString(chunk), ChunkName: format.ObjectName(h),
		Manifest: object{AAD: hex.EncodeToString(aad), Plaintext: string(format.Encode(m)), Object: hex.EncodeToString(mobj),
			Name: format.ObjectName(format.HashOf(mobj))},
		InlineManifest: object{AAD: hex.EncodeToString(aad), Plaintext: string(format.Encode(im)), Object: hex.EncodeToString(imobj),
			Name: format.ObjectName(format.HashOf(imobj))},
	}
}

func TestVectors2(t *testing.T) {
	got := makeVectors2()
	const path = "testdata/vectors2.json"
	var want vectors2
	golden(t, path, got, &want)
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(want)
	if !bytes.Equal(gb, wb) {
		t.Fatalf("format 2 changed: objects differ from %s\n got %s\nwant %s", path, gb, wb)
	}
	// Each segment is plain AES-256-GCM under the seal key, nonce 0^4 || segment.
	obj, pt := mustHex(want.Chunk), mustHex(want.Plaintext)
	for i, aad := range want.SegmentAADs {
		nonce := make([]byte, format.NonceSize)
		nonce[11] = byte(i)
		seg := obj[i*format.SealedSegmentSize : min((i+1)*format.SealedSegmentSize, len(obj))]
		got, err := format.OpenWithNonce(mustHex(want.SealKey), mustHex(aad), nonce, seg)
		if err != nil || !bytes.Equal(got, pt[i*format.SegmentSize:min((i+1)*format.SegmentSize, len(pt))]) {
			t.Fatalf("segment %d does not open as plain AES-GCM: %v", i, err)
		}
	}
	// 2+1 shards: the object's bytes [0, 4112) and [4112, 5032), and the
	// parity 3*d0 + 2*d1 in GF(2^8) modulo x^8+x^4+x^3+x^2+1, d1 padded
	// with zeros (docs/FORMAT.md, "Storage nodes and shards").
	d0, d1, parity := mustHex(want.Shards[0]), mustHex(want.Shards[1]), mustHex(want.Shards[2])
	if !bytes.Equal(append(bytes.Clone(d0), d1...), obj) || len(parity) != len(d0) {
		t.Fatal("the data shards are not the chunk object's bytes")
	}
	for i := range parity {
		var b byte
		if i < len(d1) {
			b = d1[i]
		}
		if parity[i] != gfMul(3, d0[i])^gfMul(2, b) {
			t.Fatalf("parity byte %d is not 3*d0 + 2*d1", i)
		}
	}
	var sm format.Manifest
	smpt, err := format.Open(mustHex(want.MetaKey), mustHex(want.ShardedManifest.AAD), mustHex(want.ShardedManifest.Object))
	if err != nil || format.Decode(smpt, &sm) != nil || sm.Validate(format.DefaultChunkSize) != nil {
		t.Fatalf("the sharded manifest does not open or validate: %v", err)
	}
	// The chunk's hash: SHA-256 of the label, 0x00, k and the shard hashes.
	label := append([]byte("anchorfs/v1 shards\x00"), 2)
	for j, h := range sm.Chunks[0].Shards {
		if format.HashOf(mustHex(want.Shards[j])).String() != h {
			t.Fatalf("shard %d's hash is not in the manifest", j)
		}
		label = append(label, mustHex(h)...)
	}
	if format.HashOf(label).String() != sm.Chunks[0].Hash {
		t.Fatal("the sharded chunk's hash is not that of its shards")
	}
	var m format.Manifest
	mpt, err := format.Open(mustHex(want.MetaKey), mustHex(want.Manifest.AAD), mustHex(want.Manifest.Object))
	if err != nil || format.Decode(mpt, &m) != nil || m.Validate(format.DefaultChunkSize) != nil {
		t.Fatalf("the format 2 manifest does not open or validate: %v", err)
	}
}

// gfMul multiplies in GF(2^8) modulo x^8+x^4+x^3+x^2+1 (0x11d).
func gfMul(a, b byte) byte {
	var r byte
	for ; b != 0; b >>= 1 {
		if b&1 != 0 {
			r ^= a
		}
		hi := a & 0x80
		a <<= 1
		if hi != 0 {
			a ^= 0x1d
		}
	}
	return r
}

func TestSegmentSpan(t *testing.T) {
	for _, c := range []struct{ size, off, n, first, count, objOff, objLen int }{
		{4096, 0, 4096, 0, 1, 0, 4112},
		{4096, 100, 1, 0, 1, 0, 4112},
		{5000, 4000, 200, 0, 2, 0, 5032},
		{5000, 4096, 904, 1, 1, 4112, 920},
		{1 << 20, 8192, 4096, 2, 1, 8224, 4112},
		{1 << 20, 8191, 2, 1, 2, 4112, 8224},
		{1 << 20, 0, 1 << 20, 0, 256, 0, (1 << 20) + 256*16},
	} {
		first, count, objOff, objLen := format.SegmentSpan(c.size, c.off, c.n)
		if first != c.first || count != c.count || objOff != c.objOff || objLen != c.objLen {
			t.Errorf("SegmentSpan(%d, %d, %d) = %d %d %d %d, want %d %d %d %d", c.size, c.off, c.n,
				first, count, objOff, objLen, c.first, c.count, c.objOff, c.objLen)
		}
	}
}

// TestSegmentsOpenOnlyInTheirPlace: any range of a chunk opens to its
// plaintext, and a flipped byte, swapped or dropped segment, truncation, or
// a segment of another sealing, version, chunk or file never opens.
func TestSegmentsOpenOnlyInTheirPlace(t *testing.T) {
	key := bytes.Repeat([]byte{7}, format.KeySize)
	vol, file, other := format.NewID(), format.NewID(), format.NewID()
	seal := format.NewSealID()
	pt := make([]byte, 3*format.SegmentSize+10)
	for i := range pt {
		pt[i] = byte(i*31 + 1)
	}
	sealer := func(s format.SealID, f format.ID, version, index uint64) *format.ChunkSealer {
		return format.NewChunkSealer(key, vol, f, s, version, index)
	}
	obj := sealer(seal, file, 3, 5).Seal(nil, pt)
	if len(obj) != format.SegmentedSize(len(pt)) {
		t.Fatalf("object of %d bytes, want %d", len(obj), format.SegmentedSize(len(pt)))
	}
	for off := 0; off < len(pt); off += 1500 {
		for _, n := range []int{1, 4096, 5000} {
			n = min(n, len(pt)-off)
			first, _, objOff, objLen := format.SegmentSpan(len(pt), off, n)
			got, err := sealer(seal, file, 3, 5).OpenInPlace(first, bytes.Clone(obj[objOff:objOff+objLen]))
			start := off - first*format.SegmentSize
			if err != nil || !bytes.Equal(got[start:start+n], pt[off:off+n]) {
				t.Fatalf("range %d+%d: %v", off, n, err)
			}
		}
	}
	fails := func(what string, s *format.ChunkSealer, first int, sealed []byte) {
		t.Helper()
		if _, err := s.OpenInPlace(first, bytes.Clone(sealed)); !errors.Is(err, format.ErrAuth) {
			t.Errorf("%s opened: %v", what, err)
		}
	}
	for i := range obj {
		bad := bytes.Clone(obj)
		bad[i] ^= 1
		fails("a flipped byte", sealer(seal, file, 3, 5), 0, bad)
	}
	swapped := bytes.Clone(obj)
	copy(swapped[:format.SealedSegmentSize], obj[format.SealedSegmentSize:2*format.SealedSegmentSize])
	copy(swapped[format.SealedSegmentSize:], obj[:format.SealedSegmentSize])
	fails("swapped segments", sealer(seal, file, 3, 5), 0, swapped)
	fails("a segment read as the next one", sealer(seal, file, 3, 5), 1, obj[:format.SealedSegmentSize])
	fails("a truncated last segment", sealer(seal, file, 3, 5), 3, obj[3*format.SealedSegmentSize:len(obj)-1])
	fails("a tag alone", sealer(seal, file, 3, 5), 3, obj[len(obj)-format.TagSize:])
	fails("another sealing", sealer(format.NewSealID(), file, 3, 5), 0, obj)
	fails("another version", sealer(seal, file, 4, 5), 0, obj)
	fails("another chunk", sealer(seal, file, 3, 6), 0, obj)
	fails("another file", sealer(seal, other, 3, 5), 0, obj)
}

// TestInlineChunksAreBoundToTheirHash: a manifest's inline chunk must be a
// segmented chunk of at most InlineMax bytes whose SHA-256 is its hash.
func TestInlineChunksAreBoundToTheirHash(t *testing.T) {
	key := bytes.Repeat([]byte{9}, format.KeySize)
	vol, file := format.NewID(), format.NewID()
	seal := format.NewSealID()
	pt := []byte("a small file")
	obj := format.NewChunkSealer(key, vol, file, seal, 1, 0).Seal(nil, pt)
	good := func() format.Manifest {
		m := format.Manifest{Format: 2, File: file.String(), Version: 1, Size: int64(len(pt)), ChunkSize: format.DefaultChunkSize,
			Chunks: []format.Chunk{{Hash: format.HashOf(obj).String(), Size: len(pt), Version: 1, Seal: seal.String(), Data: bytes.Clone(obj)}}}
		m.MerkleRoot = format.MerkleRoot(m.Chunks)
		return m
	}
	m := good()
	if err := m.Validate(format.DefaultChunkSize); err != nil {
		t.Fatalf("a good inline chunk: %v", err)
	}
	var back format.Manifest
	if err := format.Decode(format.Encode(m), &back); err != nil || !bytes.Equal(back.Chunks[0].Data, obj) {
		t.Fatalf("inline data does not survive encoding: %v", err)
	}
	for what, spoil := range map[string]func(*format.Manifest){
		"a flipped byte":   func(m *format.Manifest) { m.Chunks[0].Data[3] ^= 1 },
		"a truncated data": func(m *format.Manifest) { m.Chunks[0].Data = m.Chunks[0].Data[:len(m.Chunks[0].Data)-1] },
		"no seal":          func(m *format.Manifest) { m.Chunks[0].Seal = "" },
	} {
		m := good()
		spoil(&m)
		if err := m.Validate(format.DefaultChunkSize); err == nil {
			t.Errorf("%s was accepted", what)
		}
	}
}
