package format_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/anchorfs/anchorfs/fs/format"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json")

// vectors are fixed inputs and the objects this format makes of them; a
// second implementation must produce and accept exactly these.
type vectors struct {
	RootKey    string `json:"rootKey"`
	Volume     string `json:"volume"`
	File       string `json:"file"`
	FileKey    string `json:"fileKey"`
	MetaKey    string `json:"metaKey"`
	KeyCheck   string `json:"keyCheck"`
	Nonce      string `json:"nonce"`
	Chunk      object `json:"chunk"`
	Manifest   object `json:"manifest"`
	Dir        object `json:"dir"`
	Head       object `json:"head"`
	MerkleRoot string `json:"merkleRootOf3"`
	// A shared folder (domain dirID) in key epoch 2: its folder key, a
	// manifest sealed in it, and its head.
	DomainKey      string `json:"domainKeyEpoch2"`
	DomainManifest object `json:"domainManifest"`
	DomainHead     object `json:"domainHead"`
	// The sealed place of a delete event on the ledger (file removed from
	// folder dirID, where it was hello.txt).
	DeletedPlace object `json:"deletedPlace"`
}

type object struct {
	AAD       string `json:"aad"`
	Plaintext string `json:"plaintext"` // hex for chunks, text for metadata
	Object    string `json:"object"`
	Name      string `json:"name"`
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func makeVectors() vectors {
	root := bytes.Repeat([]byte{0x42}, format.KeySize)
	vol, _ := format.ParseID("00112233445566778899aabbccddeeff")
	file, _ := format.ParseID("0123456789abcdef0123456789abcdef")
	nonce := mustHex("000102030405060708090a0b")
	fileKey := format.FileKey(root, vol, file)
	metaKey := format.MetaKey(root, vol)
	seal := func(key, aad, pt []byte, text bool) object {
		obj := format.SealWithNonce(key, aad, nonce, pt)
		o := object{AAD: hex.EncodeToString(aad), Object: hex.EncodeToString(obj), Name: format.ObjectName(format.HashOf(obj))}
		if text {
			o.Plaintext = string(pt)
		} else {
			o.Plaintext = hex.EncodeToString(pt)
		}
		return o
	}
	chunkPT := []byte("the first chunk of a file")
	chunk := seal(fileKey, format.ChunkAAD(vol, file, 1, 0), chunkPT, false)
	chunkHash := format.HashOf(mustHex(chunk.Object)).String()
	m := format.Manifest{Format: 1, File: file.String(), Version: 1, Size: int64(len(chunkPT)), ChunkSize: format.DefaultChunkSize,
		Chunks: []format.Chunk{{Hash: chunkHash, Size: len(chunkPT), Version: 1}}}
	m.MerkleRoot = format.MerkleRoot(m.Chunks)
	manifest := seal(metaKey, format.ManifestAAD(vol, file, 1), format.Encode(m), true)
	dirID, _ := format.ParseID("fedcba9876543210fedcba9876543210")
	d := format.Dir{Format: 1, Dir: dirID.String(), Entries: []format.Entry{{Name: "hello.txt", ID: file.String(), Type: format.TypeFile,
		Mode: 0o644, UID: 1000, GID: 1000, Mtime: 1700000000000000000, Ctime: 1700000000000000000, Size: m.Size, Version: 1,
		Manifest: format.HashOf(mustHex(manifest.Object)).String(), Xattrs: map[string][]byte{"user.k": []byte("v")}}}}
	dir := seal(metaKey, format.DirAAD(vol, dirID), format.Encode(d), true)
	h := format.Head{Format: 1, Volume: vol.String(), Seq: 2, Time: 1700000000000000000, Root: format.Entry{ID: dirID.String(),
		Type: format.TypeDir, Mode: 0o755, Mtime: 1700000000000000000, Ctime: 1700000000000000000, Tree: format.HashOf(mustHex(dir.Object)).String()}}
	head := seal(metaKey, format.HeadAAD(vol), format.Encode(h), true)
	head.Name = format.HeadName(format.HashOf(mustHex(head.Object)))
	domainKey := format.DomainKey(root, vol, dirID, 2)
	domainMeta := format.MetaKey(domainKey, vol)
	dchunk := format.SealWithNonce(format.FileKey(domainKey, vol, file), format.ChunkAAD(vol, file, 3, 0), nonce, chunkPT)
	dm := format.Manifest{Format: 1, File: file.String(), Version: 3, Size: int64(len(chunkPT)), ChunkSize: format.DefaultChunkSize,
		Chunks: []format.Chunk{{Hash: format.HashOf(dchunk).String(), Size: len(chunkPT), Version: 3}}, Epoch: 2}
	dm.MerkleRoot = format.MerkleRoot(dm.Chunks)
	domainManifest := seal(domainMeta, format.ManifestAAD(vol, file, 3), format.Encode(dm), true)
	dh := format.Head{Format: 1, Volume: vol.String(), Domain: dirID.String(), Epoch: 2, Seq: 5, Time: 1700000000000000000,
		Root: format.Entry{ID: dirID.String(), Type: format.TypeDir, Mode: 0o755, Mtime: 1700000000000000000, Ctime: 1700000000000000000,
			Tree: format.HashOf(mustHex(dir.Object)).String(), Domain: dirID.String(), Epoch: 2}}
	domainHead := seal(domainMeta, format.DomainHeadAAD(vol, dirID), format.Encode(dh), true)
	domainHead.Name = format.DomainHeadName(dirID, format.HashOf(mustHex(domainHead.Object)))
	three := []format.Chunk{{Hash: chunkHash, Size: 1}, {Size: 1}, {Hash: chunkHash, Size: 1}}
	return vectors{
		RootKey: hex.EncodeToString(root), Volume: vol.String(), File: file.String(),
		FileKey: hex.EncodeToString(fileKey), MetaKey: hex.EncodeToString(metaKey), KeyCheck: format.KeyCheck(root, vol),
		Nonce: hex.EncodeToString(nonce), Chunk: chunk, Manifest: manifest, Dir: dir, Head: head,
		MerkleRoot: format.MerkleRoot(three),
		DomainKey:  hex.EncodeToString(domainKey), DomainManifest: domainManifest, DomainHead: domainHead,
		DeletedPlace: seal(metaKey, format.DeletedAAD(vol, file), append(dirID[:], "hello.txt"...), false),
	}
}

// golden reads the vectors checked in at path into want, after writing
// got there with -update.
func golden(t *testing.T, path string, got, want any) {
	t.Helper()
	if *update {
		b, _ := json.MarshalIndent(got, "", "  ")
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, want); err != nil {
		t.Fatal(err)
	}
}

func TestVectors(t *testing.T) {
	got := makeVectors()
	const path = "testdata/vectors.json"
	var want vectors
	golden(t, path, got, &want)
	if got != want {
		t.Fatalf("the format changed: objects differ from %s\n got %+v\nwant %+v", path, got, want)
	}
	// The checked-in objects open with the derived keys.
	for _, o := range []struct {
		key string
		obj object
	}{{want.FileKey, want.Chunk}, {want.MetaKey, want.Manifest}, {want.MetaKey, want.Dir}, {want.MetaKey, want.Head},
		{hex.EncodeToString(format.MetaKey(mustHex(want.DomainKey), format.ID(mustHex(want.Volume)))), want.DomainManifest},
		{hex.EncodeToString(format.MetaKey(mustHex(want.DomainKey), format.ID(mustHex(want.Volume)))), want.DomainHead}} {
		if _, err := format.Open(mustHex(o.key), mustHex(o.obj.AAD), mustHex(o.obj.Object)); err != nil {
			t.Fatalf("vector object does not open: %v", err)
		}
	}
}

// TestEveryByteFlipIsDetected flips each byte of each kind of object in turn.
func TestEveryByteFlipIsDetected(t *testing.T) {
	v := makeVectors()
	for _, o := range []struct {
		name, key string
		obj       object
	}{{"chunk", v.FileKey, v.Chunk}, {"manifest", v.MetaKey, v.Manifest}, {"dir", v.MetaKey, v.Dir}, {"head", v.MetaKey, v.Head}} {
		obj, key, aad := mustHex(o.obj.Object), mustHex(o.key), mustHex(o.obj.AAD)
		for i := range obj {
			for _, bit := range []byte{0x01, 0x80} {
				bad := bytes.Clone(obj)
				bad[i] ^= bit
				if _, err := format.Open(key, aad, bad); err == nil {
					t.Fatalf("%s: flipping byte %d went unnoticed", o.name, i)
				}
				if format.HashOf(bad) == format.HashOf(obj) {
					t.Fatalf("%s: flipped object kept its name", o.name)
				}
			}
		}
		if _, err := format.Open(key, aad, obj[:len(obj)-1]); err == nil {
			t.Fatalf("%s: truncation went unnoticed", o.name)
		}
	}
}

// TestObjectsAreBoundToTheirPlace: an object moved to another file, version
// or index does not open.
func TestObjectsAreBoundToTheirPlace(t *testing.T) {
	key := bytes.Repeat([]byte{7}, format.KeySize)
	vol, other := format.NewID(), format.NewID()
	file := format.NewID()
	obj := format.Seal(key, format.ChunkAAD(vol, file, 3, 5), []byte("data"))
	for name, aad := range map[string][]byte{
		"other volume":  format.ChunkAAD(other, file, 3, 5),
		"other file":    format.ChunkAAD(vol, other, 3, 5),
		"other version": format.ChunkAAD(vol, file, 4, 5),
		"other index":   format.ChunkAAD(vol, file, 3, 6),
		"as manifest":   format.ManifestAAD(vol, file, 3),
	} {
		if _, err := format.Open(key, aad, obj); err == nil {
			t.Errorf("chunk opened as %s", name)
		}
	}
	if _, err := format.Open(key, format.ChunkAAD(vol, file, 3, 5), obj); err != nil {
		t.Fatal(err)
	}
}

func TestManifestValidate(t *testing.T) {
	const cs = format.MinChunkSize
	h := format.HashOf([]byte("x")).String()
	ok := func() format.Manifest {
		m := format.Manifest{Format: 1, File: "f", Version: 2, Size: cs + 10, ChunkSize: cs,
			Chunks: []format.Chunk{{Hash: h, Size: cs, Version: 1}, {Size: 10}}}
		m.MerkleRoot = format.MerkleRoot(m.Chunks)
		return m
	}
	good := ok()
	if err := good.Validate(cs); err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(*format.Manifest){
		"wrong chunk size":     func(m *format.Manifest) { m.ChunkSize = cs * 2 },
		"too few chunks":       func(m *format.Manifest) { m.Chunks = m.Chunks[:1] },
		"short chunk":          func(m *format.Manifest) { m.Chunks[0].Size = 1 },
		"chunk from future":    func(m *format.Manifest) { m.Chunks[0].Version = 3 },
		"bad hash":             func(m *format.Manifest) { m.Chunks[0].Hash = "zz" },
		"merkle root mismatch": func(m *format.Manifest) { m.MerkleRoot = h },
		"negative size":        func(m *format.Manifest) { m.Size = -1 },
	} {
		m := ok()
		mutate(&m)
		if err := m.Validate(cs); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestMerkleRoot(t *testing.T) {
	// RFC 6962: the root of no leaves is SHA-256 of the empty string.
	if got := format.MerkleRoot(nil); got != "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
		t.Fatalf("empty root %s", got)
	}
	a := []format.Chunk{{Hash: format.HashOf([]byte("a")).String()}, {Hash: format.HashOf([]byte("b")).String()}}
	b := []format.Chunk{a[1], a[0]}
	if format.MerkleRoot(a) == format.MerkleRoot(b) {
		t.Fatal("order does not change the root")
	}
}

// TestNamesThatAreNotUTF8RoundTrip: such a name and target are written as
// rawName and rawTarget and read back byte for byte; a rawName that is
// valid UTF-8 is refused.
func TestNamesThatAreNotUTF8RoundTrip(t *testing.T) {
	e := format.Entry{Name: "bad\xff.txt", ID: "00112233445566778899aabbccddeeff", Type: format.TypeSymlink, Target: "t\xfe"}
	b := format.Encode(e)
	if !strings.Contains(string(b), `"name":"",`) || !strings.Contains(string(b), `"rawName":"YmFk/y50eHQ="`) || !strings.Contains(string(b), `"rawTarget":"dP4="`) {
		t.Fatalf("encoded: %s", b)
	}
	var got format.Entry
	if err := format.Decode(b, &got); err != nil || got.Name != e.Name || got.Target != e.Target || got.RawName != nil {
		t.Fatalf("decoded %+v %v", got, err)
	}
	if err := format.Decode([]byte(`{"name":"","rawName":"b2s=","id":"x","type":"file","mode":0,"uid":0,"gid":0,"mtime":0,"ctime":0}`), &got); err == nil {
		t.Fatal("a rawName that is UTF-8 was accepted")
	}
	// The same inside a folder object, which decodes its entries in one pass.
	var d format.Dir
	if err := format.Decode(format.Encode(format.Dir{Format: 2, Dir: "d", Entries: []format.Entry{e}}), &d); err != nil ||
		len(d.Entries) != 1 || d.Entries[0].Name != e.Name || d.Entries[0].Target != e.Target || d.Entries[0].RawName != nil {
		t.Fatalf("decoded folder %+v %v", d, err)
	}
	for _, bad := range []string{
		`{"format":2,"dir":"d","entries":[{"name":"","rawName":"b2s=","id":"x","type":"file","mode":0,"uid":0,"gid":0,"mtime":0,"ctime":0}]}`,
		`{"format":2,"dir":"d","entries":[{"name":"a","id":"x","type":"file","mode":0,"uid":0,"gid":0,"mtime":0,"ctime":0,"extra":1}]}`,
	} {
		if err := format.Decode([]byte(bad), &d); err == nil {
			t.Fatalf("folder accepted: %s", bad)
		}
	}
}

// TestWritingRules pins what docs/FORMAT.md tells a second writer: string
// escapes, always-written fields, and empty lists as [].
func TestWritingRules(t *testing.T) {
	e := format.Entry{Name: "a\b\f\n\r\t\x01\x7f<&\u2028\"\\", ID: "00112233445566778899aabbccddeeff", Type: format.TypeFile}
	want := `{"name":"a\b\f\n\r\t\u0001` + "\x7f" + `<&\u2028\"\\","id":"00112233445566778899aabbccddeeff","type":"file","mode":0,"uid":0,"gid":0,"mtime":0,"ctime":0}`
	if got := string(format.Encode(e)); got != want {
		t.Fatalf("entry:\n%s\nwant\n%s", got, want)
	}
	d := format.Dir{Format: 1, Dir: e.ID, Entries: []format.Entry{}}
	if got := string(format.Encode(d)); got != `{"format":1,"dir":"00112233445566778899aabbccddeeff","entries":[]}` {
		t.Fatalf("empty folder: %s", got)
	}
	m := format.Manifest{Format: 1, File: e.ID, ChunkSize: format.DefaultChunkSize, Chunks: []format.Chunk{}, MerkleRoot: format.MerkleRoot(nil)}
	if got := string(format.Encode(m)); !strings.HasPrefix(got, `{"format":1,"file":"00112233445566778899aabbccddeeff","version":0,"size":0,"chunkSize":1048576,"chunks":[],"merkleRoot":"`) {
		t.Fatalf("empty file's manifest: %s", got)
	}
}
