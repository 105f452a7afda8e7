package format_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/anchorfs/anchorfs/fs/format"
)

// everyManifestShape is a manifest of each shape a writer makes: empty,
// format 1, holes, segmented chunks, small data held inline, shards, an
// epoch.
func everyManifestShape() []format.Manifest {
	h := strings.Repeat("ab", 32)
	seal := strings.Repeat("cd", 16)
	data := bytes.Repeat([]byte{0xfe, 0x01, 0x7f}, 500)
	ms := []format.Manifest{
		{Format: 2, File: seal, Version: 1, ChunkSize: 1 << 20, Chunks: []format.Chunk{}},
		{Format: 1, File: seal, Version: 3, Size: 25, ChunkSize: 1 << 20, Chunks: []format.Chunk{{Hash: h, Size: 25, Version: 2}}},
		{Format: 2, File: seal, Version: 4, Size: 3 << 20, ChunkSize: 1 << 20, Epoch: 7, Chunks: []format.Chunk{
			{Size: 1 << 20}, {Hash: h, Size: 1 << 20, Version: 4, Seal: seal}, {Hash: h, Size: 1 << 20, Version: 1}}},
		{Format: 2, File: seal, Version: 1, Size: 1500, ChunkSize: 1 << 20, Chunks: []format.Chunk{
			{Hash: format.HashOf(data).String(), Size: 1500, Version: 1, Seal: seal, Data: data}}},
		{Format: 2, File: seal, Version: 9, Size: 10, ChunkSize: 1 << 20, Chunks: []format.Chunk{
			{Hash: h, Size: 10, Version: 9, Seal: seal, Shards: []string{h, h, h}, DataShards: 2}}},
	}
	for i := range ms {
		ms[i].MerkleRoot = format.MerkleRoot(ms[i].Chunks)
	}
	return ms
}

// What Encode writes, the canonical reader reads, as encoding/json does:
// a manifest never falls back to the slow path.
func TestEveryManifestEncodeWritesIsReadWithoutEncodingJSON(t *testing.T) {
	for _, m := range everyManifestShape() {
		b := format.Encode(&m)
		var got format.Manifest
		if !format.DecodeCanonicalManifest(b, &got) {
			t.Fatalf("canonical manifest not taken: %s", b)
		}
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("read\n%+v\nwrote\n%+v", got, m)
		}
	}
}

// Input the canonical reader declines still decodes as encoding/json
// decides: whitespace, another field order, an escape, null.
func TestAManifestNotInCanonicalFormIsLeftToEncodingJSON(t *testing.T) {
	for _, s := range []string{
		`{"format":2, "file":"x","version":1,"size":0,"chunkSize":1048576,"chunks":[],"merkleRoot":"y"}`,
		`{"file":"x","format":2,"version":1,"size":0,"chunkSize":1048576,"chunks":[],"merkleRoot":"y"}`,
		`{"format":2,"file":"\u0078","version":1,"size":0,"chunkSize":1048576,"chunks":[],"merkleRoot":"y"}`,
		`{"format":2,"file":"x","version":1,"size":0,"chunkSize":1048576,"chunks":null,"merkleRoot":"y"}`,
	} {
		var m format.Manifest
		if format.DecodeCanonicalManifest([]byte(s), &m) {
			t.Fatalf("taken: %s", s)
		}
		if err := format.Decode([]byte(s), &m); err != nil || m.File != "x" || m.MerkleRoot != "y" {
			t.Fatalf("%s: %v %+v", s, err, m)
		}
	}
	var m format.Manifest
	if err := format.Decode([]byte(`{"format":2,"file":"x","version":1,"size":0,"chunkSize":1048576,"chunks":[],"merkleRoot":"y","extra":1}`), &m); err == nil {
		t.Fatal("an unknown field was accepted")
	}
}

// FuzzCanonicalManifest: whatever the canonical reader accepts,
// encoding/json (refusing unknown fields) accepts as the same manifest.
func FuzzCanonicalManifest(f *testing.F) {
	for _, m := range everyManifestShape() {
		f.Add(format.Encode(&m))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var fast format.Manifest
		if !format.DecodeCanonicalManifest(b, &fast) {
			return
		}
		var slow format.Manifest
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&slow); err != nil {
			t.Fatalf("canonical reader took what encoding/json refuses (%v): %q", err, b)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("canonical reader and encoding/json differ on %q:\n%+v\n%+v", b, fast, slow)
		}
	})
}
