package format

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Remote layout: every object but the config and heads lives under objects/,
// fanned out by the first byte of its name.
const (
	ConfigName = "config"
	HeadsDir   = "heads"
	ObjectsDir = "objects"
	// DomainsDir holds the heads of shared folders, one folder per domain.
	DomainsDir = "domains"
	// NodeName is, on each remote of a volume with several, which of the
	// config's nodes that remote is (a NodeMarker).
	NodeName = "node"
)

// NodeMarker names the node a remote is, in a volume with several.
type NodeMarker struct {
	Volume string `json:"volume"`
	Node   string `json:"node"`
}

// ObjectName is where an object with hash h lives on a remote.
func ObjectName(h Hash) string {
	s := h.String()
	return ObjectsDir + "/" + s[:2] + "/" + s
}

// HeadName is where a head with hash h lives on a remote.
func HeadName(h Hash) string { return HeadsDir + "/" + h.String() }

// DomainHeadsDir is the folder of a shared folder's heads.
func DomainHeadsDir(domain ID) string { return DomainsDir + "/" + domain.String() }

// DomainHeadName is where a shared folder's head with hash h lives on a remote.
func DomainHeadName(domain ID, h Hash) string { return DomainHeadsDir(domain) + "/" + h.String() }

// Config is the volume's public description, stored in the clear under ConfigName.
type Config struct {
	Format    int    `json:"format"`
	Volume    string `json:"volume"`
	ChunkSize int    `json:"chunkSize"`
	Created   string `json:"created"`
	// KeyCheck is KeyCheck(rootKey, volume): it tells a wrong key from damage.
	KeyCheck string `json:"keyCheck"`
	// OwnerKey is the root key wrapped for the owner (an age file).
	OwnerKey []byte `json:"ownerKey"`
	// Ledger is the ID of the ledger the volume anchors on (network.Info's
	// ID, or "none"); absent in volumes made before it was recorded.
	Ledger string `json:"ledger,omitempty"`
	// LedgerSpec is where the creating home reached that ledger (its
	// --ledger, made absolute), sealed with the meta key and LedgerAAD: a
	// second home of the owner takes it from here.
	LedgerSpec []byte `json:"ledgerSpec,omitempty"`
	// Nodes are the ids of the volume's storage nodes, one remote each, in
	// shard order: shard j of a chunk is on node j. Absent for a volume on
	// one remote.
	Nodes []string `json:"nodes,omitempty"`
	// DataShards and ParityShards are the layout new chunks are written in,
	// on the first DataShards + ParityShards of Nodes (the others, while a
	// reshard runs, are nodes the volume is leaving), or both 0 for every
	// chunk whole on every node.
	DataShards   int `json:"dataShards,omitempty"`
	ParityShards int `json:"parityShards,omitempty"`
}

// maxLedgerField bounds the ledger fields of a config.
const maxLedgerField = 4096

// Validate checks a config read from a remote.
func (c *Config) Validate() error {
	if c.Format != Version1 && c.Format != Version {
		return fmt.Errorf("volume format %d is not supported (this build reads formats %d and %d)", c.Format, Version1, Version)
	}
	if _, err := ParseID(c.Volume); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if c.ChunkSize < MinChunkSize || c.ChunkSize > MaxChunkSize {
		return fmt.Errorf("config: chunk size %d out of range", c.ChunkSize)
	}
	if len(c.OwnerKey) == 0 {
		return fmt.Errorf("config: no wrapped key")
	}
	if c.Ledger != "" && c.Ledger != "none" && !strings.HasPrefix(c.Ledger, "embedded:") && !strings.HasPrefix(c.Ledger, "fabric:") {
		return fmt.Errorf("config: unknown ledger %q", c.Ledger)
	}
	if len(c.Ledger) > maxLedgerField || len(c.LedgerSpec) > maxLedgerField {
		return fmt.Errorf("config: ledger fields too long")
	}
	if len(c.Nodes) > 0 || c.DataShards != 0 || c.ParityShards != 0 {
		whole := c.DataShards == 0 && c.ParityShards == 0 // every chunk whole on every node
		if c.Format < Version || len(c.Nodes) == 0 || len(c.Nodes) > MaxShards ||
			!whole && (c.DataShards < 1 || c.ParityShards < 1 || c.DataShards+c.ParityShards > len(c.Nodes)) {
			return fmt.Errorf("config: bad storage nodes (%d nodes, shards %d+%d)", len(c.Nodes), c.DataShards, c.ParityShards)
		}
		seen := map[string]bool{}
		for _, n := range c.Nodes {
			if _, err := ParseID(n); err != nil || seen[n] {
				return fmt.Errorf("config: bad node id %q", n)
			}
			seen[n] = true
		}
	}
	return nil
}

// Chunk is one entry of a manifest: a sealed chunk, or a hole when Hash is empty.
type Chunk struct {
	Hash    string `json:"hash,omitempty"`
	Size    int    `json:"size"`
	Version uint64 `json:"version,omitempty"`
	// Seal is the seal id of a segmented chunk (format 2); a chunk without
	// one is a single sealed object (format 1, or carried over from it).
	Seal string `json:"seal,omitempty"`
	// Shards are the hashes of the chunk object's shards, in node order,
	// in a volume on several nodes: DataShards data shards (byte ranges of
	// the object) then parity shards; Hash is then ShardedHash of them. A
	// chunk without them is stored whole.
	Shards     []string `json:"shards,omitempty"`
	DataShards int      `json:"dataShards,omitempty"`
	// Data is a small segmented chunk's object itself (at most InlineMax
	// bytes of plaintext), kept in the manifest instead of on its own: a
	// small file is one object, not two. Hash is still its SHA-256.
	Data []byte `json:"data,omitempty"`
}

// ShardedHash is the hash of a chunk stored as shards: SHA-256 over the
// label "anchorfs/v1 shards", a zero byte, the number of data shards (one
// byte) and each shard's hash in order. It binds every byte of every shard
// and the layout, as the hash of a whole chunk object binds its bytes.
func ShardedHash(dataShards int, shards []Hash) Hash {
	b := make([]byte, 0, len("anchorfs/v1 shards")+2+32*len(shards))
	b = append(append(b, "anchorfs/v1 shards"...), 0, byte(dataShards))
	for _, h := range shards {
		b = append(b, h[:]...)
	}
	return HashOf(b)
}

// InlineMax is the largest chunk plaintext a format-2 manifest holds in
// Data: one segment.
const InlineMax = SegmentSize

// Segmented reports whether the chunk's object is a run of segments.
func (c Chunk) Segmented() bool { return c.Seal != "" }

// Manifest lists a file version's chunks. It is sealed with the meta key and
// ManifestAAD(volume, file, version).
type Manifest struct {
	Format     int     `json:"format"`
	File       string  `json:"file"`
	Version    uint64  `json:"version"`
	Size       int64   `json:"size"`
	ChunkSize  int     `json:"chunkSize"`
	Chunks     []Chunk `json:"chunks"`
	MerkleRoot string  `json:"merkleRoot"`
	// Epoch is the key epoch of a file in a shared folder: its chunks are
	// sealed with the file key of that epoch's folder key. 0 outside one.
	Epoch uint32 `json:"epoch,omitempty"`
}

// Validate checks a manifest's internal consistency.
func (m *Manifest) Validate(chunkSize int) error {
	if (m.Format != Version1 && m.Format != Version) || m.ChunkSize != chunkSize || m.Size < 0 {
		return fmt.Errorf("manifest: bad header")
	}
	want := (m.Size + int64(chunkSize) - 1) / int64(chunkSize)
	if want > MaxChunks {
		return fmt.Errorf("manifest: %d bytes is more than a file may hold", m.Size)
	}
	if int64(len(m.Chunks)) != want {
		return fmt.Errorf("manifest: %d chunks for %d bytes", len(m.Chunks), m.Size)
	}
	for i, c := range m.Chunks {
		size := chunkSize
		if i == len(m.Chunks)-1 {
			size = int(m.Size - int64(i)*int64(chunkSize))
		}
		if c.Size != size {
			return fmt.Errorf("manifest: chunk %d has size %d, want %d", i, c.Size, size)
		}
		if c.Hash != "" {
			if _, err := ParseHash(c.Hash); err != nil {
				return fmt.Errorf("manifest: chunk %d: %w", i, err)
			}
			if c.Version == 0 || c.Version > m.Version {
				return fmt.Errorf("manifest: chunk %d has version %d", i, c.Version)
			}
		}
		if c.Seal != "" {
			if _, err := ParseSealID(c.Seal); err != nil || m.Format == Version1 || c.Hash == "" {
				return fmt.Errorf("manifest: chunk %d has a bad seal", i)
			}
		}
		if c.Shards != nil || c.DataShards != 0 {
			if c.Seal == "" || c.Data != nil || c.DataShards < 1 || c.DataShards >= len(c.Shards) || len(c.Shards) > MaxShards {
				return fmt.Errorf("manifest: chunk %d has bad shards", i)
			}
			hs := make([]Hash, len(c.Shards))
			for j, h := range c.Shards {
				var err error
				if hs[j], err = ParseHash(h); err != nil {
					return fmt.Errorf("manifest: chunk %d: shard: %w", i, err)
				}
			}
			if ShardedHash(c.DataShards, hs).String() != c.Hash {
				return fmt.Errorf("manifest: chunk %d: its hash is not that of its shards", i)
			}
		}
		if c.Data != nil && (c.Seal == "" || c.Size > InlineMax || len(c.Data) != SegmentedSize(c.Size) || HashOf(c.Data).String() != c.Hash) {
			return fmt.Errorf("manifest: chunk %d has bad inline data", i)
		}
	}
	if root := MerkleRoot(m.Chunks); root != m.MerkleRoot {
		return fmt.Errorf("manifest: merkle root does not match its chunks")
	}
	return nil
}

// MerkleRoot is the RFC 6962 Merkle tree hash over the chunks' ciphertext
// hashes (32 zero bytes for a hole), in lowercase hex.
func MerkleRoot(chunks []Chunk) string {
	leaves := make([][]byte, len(chunks))
	for i, c := range chunks {
		h, _ := ParseHash(c.Hash) // a hole parses to the zero hash
		leaves[i] = h[:]
	}
	r := merkle(leaves)
	return fmt.Sprintf("%x", r)
}

func merkle(leaves [][]byte) []byte {
	switch len(leaves) {
	case 0:
		s := sha256.Sum256(nil)
		return s[:]
	case 1:
		s := sha256.Sum256(append([]byte{0}, leaves[0]...))
		return s[:]
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	l, r := merkle(leaves[:k]), merkle(leaves[k:])
	s := sha256.Sum256(append(append([]byte{1}, l...), r...))
	return s[:]
}

// Node types in directory entries.
const (
	TypeFile    = "file"
	TypeDir     = "dir"
	TypeSymlink = "symlink"
	// Special files: a name and metadata only; what passes through them
	// never reaches the volume.
	TypeFifo     = "fifo"
	TypeSocket   = "socket"
	TypeCharDev  = "char"
	TypeBlockDev = "block"
)

// Entry is one name in a directory: the node's metadata and where its content is.
type Entry struct {
	Name  string `json:"name"`
	ID    string `json:"id"`
	Type  string `json:"type"`
	Mode  uint32 `json:"mode"` // permission bits with setuid, setgid and sticky (07777)
	UID   uint32 `json:"uid"`
	GID   uint32 `json:"gid"`
	Mtime int64  `json:"mtime"` // nanoseconds since the Unix epoch
	Ctime int64  `json:"ctime"`
	// Atime is the last access, kept with relatime's rule (0: as mtime).
	Atime int64 `json:"atime,omitempty"`
	// Files: size, content version and the manifest of that version (none for version 0).
	Size     int64  `json:"size,omitempty"`
	Version  uint64 `json:"version,omitempty"`
	Manifest string `json:"manifest,omitempty"`
	// Directories: the hash of the directory object.
	Tree string `json:"tree,omitempty"`
	// Symlinks: the target.
	Target string `json:"target,omitempty"`
	// Device nodes (char, block): the device number, as Linux's st_rdev.
	Rdev uint64 `json:"rdev,omitempty"`
	// RawName and RawTarget stand, in the encoded form only, for a Name or
	// Target that is not valid UTF-8 (which a JSON string cannot carry byte
	// for byte); decoding puts them back into Name and Target.
	RawName   []byte `json:"rawName,omitempty"`
	RawTarget []byte `json:"rawTarget,omitempty"`
	// Xattrs holds user.* extended attributes.
	Xattrs map[string][]byte `json:"xattrs,omitempty"`
	// Link marks a file with several names: its metadata lives in the head's
	// link table, not here, so that every name sees one inode.
	Link bool `json:"link,omitempty"`
	// Nlink is the number of names of a linked file (in the link table).
	Nlink uint32 `json:"nlink,omitempty"`
	// Domain marks the top folder of a shared folder (a key domain): its id.
	// Everything under it is sealed with that domain's keys.
	Domain string `json:"domain,omitempty"`
	// Epoch is a shared folder's current key epoch (on its domain entry).
	Epoch uint32 `json:"epoch,omitempty"`
}

// Dir is a directory object, sealed with the meta key and DirAAD(volume, dir).
type Dir struct {
	Format  int     `json:"format"`
	Dir     string  `json:"dir"`
	Entries []Entry `json:"entries"` // sorted by name, names unique
}

// Links is the link table: entries of files with several names, by id.
type Links struct {
	Format  int     `json:"format"`
	Entries []Entry `json:"entries"`
}

// Head names the volume's root at one moment. Heads are sealed with the meta
// key and HeadAAD(volume) and stored under heads/; the newest by Seq wins.
// A shared folder's head has Domain set, names the folder as Root, is sealed
// with the meta key of its Epoch and DomainHeadAAD, and lives under domains/.
type Head struct {
	Format  int      `json:"format"`
	Volume  string   `json:"volume"`
	Domain  string   `json:"domain,omitempty"`
	Epoch   uint32   `json:"epoch,omitempty"`
	Seq     uint64   `json:"seq"`
	Parents []string `json:"parents,omitempty"`
	// Ancestors are earlier heads this one descends from (beyond its
	// parents, nearest first, at most 32): a writer whose own head is among
	// them knows this head follows its own.
	Ancestors []string `json:"ancestors,omitempty"`
	Time      int64    `json:"time"`
	Root      Entry    `json:"root"`
	Links     string   `json:"links,omitempty"` // hash of the link table, if any
	// Domains lists the volume's shared folders (volume heads only), each
	// with the ids of the folders above it, top first, to find it at open.
	Domains []HeadDomain `json:"domains,omitempty"`
}

// HeadDomain locates a shared folder in the tree.
type HeadDomain struct {
	ID   string   `json:"id"`
	Path []string `json:"path"`
}

// Encode is the canonical JSON encoding of a metadata object.
// entryJSON is Entry without its JSON methods.
type entryJSON Entry

// MarshalJSON writes a name or target that is not valid UTF-8 as rawName
// or rawTarget (base64) instead.
func (e Entry) MarshalJSON() ([]byte, error) {
	a := entryJSON(e)
	a.RawName, a.RawTarget = nil, nil
	if !utf8.ValidString(a.Name) {
		a.RawName, a.Name = []byte(a.Name), ""
	}
	if !utf8.ValidString(a.Target) {
		a.RawTarget, a.Target = []byte(a.Target), ""
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(a); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// UnmarshalJSON reads an entry, refusing unknown fields, and takes rawName
// and rawTarget back into Name and Target.
func (e *Entry) UnmarshalJSON(b []byte) error {
	var a entryJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		return err
	}
	return e.fromJSON(a)
}

// fromJSON takes an entry as decoded, rawName and rawTarget back into Name
// and Target.
func (e *Entry) fromJSON(a entryJSON) error {
	if a.RawName != nil {
		if a.Name != "" || utf8.Valid(a.RawName) {
			return fmt.Errorf("entry %s: rawName stands only for a name that is not UTF-8", a.ID)
		}
		a.Name, a.RawName = string(a.RawName), nil
	}
	if a.RawTarget != nil {
		if a.Target != "" || utf8.Valid(a.RawTarget) {
			return fmt.Errorf("entry %s: rawTarget stands only for a target that is not UTF-8", a.ID)
		}
		a.Target, a.RawTarget = string(a.RawTarget), nil
	}
	*e = Entry(a)
	return nil
}

func Encode(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err) // only plain structs are encoded
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// Decode reads a metadata object, refusing unknown fields.
func Decode(b []byte, v any) error {
	switch o := v.(type) {
	case *Manifest:
		if decodeCanonicalManifest(b, o) {
			return nil
		}
	case *Dir:
		return decodeDir(b, o)
	}
	return decodeStrict(b, v)
}

// decodeStrict is encoding/json's decoding of b into v, refusing unknown
// fields.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("malformed object: %w", err)
	}
	return nil
}

// decodeDir is Decode of a folder object in one pass: its entries decoded
// as entryJSON, under the decoder's refusal of unknown fields, rather than
// each by Entry.UnmarshalJSON with a decoder of its own (a folder of 5,000
// files 26 -> 15 ms).
func decodeDir(b []byte, d *Dir) error {
	var a struct {
		Format  int         `json:"format"`
		Dir     string      `json:"dir"`
		Entries []entryJSON `json:"entries"`
	}
	if err := decodeStrict(b, &a); err != nil {
		return err
	}
	out := Dir{Format: a.Format, Dir: a.Dir}
	if a.Entries != nil {
		out.Entries = make([]Entry, len(a.Entries))
	}
	for i := range a.Entries {
		if err := out.Entries[i].fromJSON(a.Entries[i]); err != nil {
			return fmt.Errorf("malformed object: %w", err)
		}
	}
	*d = out
	return nil
}
