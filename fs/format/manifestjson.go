package format

import (
	"encoding/base64"
	"math"
	"strconv"
)

// decodeCanonicalManifest reads a manifest written exactly as Encode writes
// one (fields in order, no whitespace, no escapes) without encoding/json's
// byte-by-byte scanner and reflection: a small file's manifest holds its
// data, and scanning that base64 was most of the CPU of opening the file.
// It reports false on anything else, strict or not, and Decode then reads
// the bytes with encoding/json, which decides; what it accepts,
// encoding/json accepts as the same value (FuzzCanonicalManifest).
func decodeCanonicalManifest(b []byte, m *Manifest) bool {
	p := &canonicalReader{b: b}
	var out Manifest
	ok := p.key("{", "format") && num(p, &out.Format, math.MaxInt) &&
		p.key(",", "file") && p.str(&out.File) &&
		p.key(",", "version") && num(p, &out.Version, math.MaxUint64) &&
		p.key(",", "size") && num(p, &out.Size, math.MaxInt64) &&
		p.key(",", "chunkSize") && num(p, &out.ChunkSize, math.MaxInt) &&
		p.key(",", "chunks") && p.chunks(&out.Chunks) &&
		p.key(",", "merkleRoot") && p.str(&out.MerkleRoot)
	if ok && p.next(",") {
		ok = p.key("", "epoch") && num(p, &out.Epoch, math.MaxUint32) && out.Epoch != 0
	}
	if !ok || !p.next("}") || p.i != len(p.b) {
		return false
	}
	*m = out
	return true
}

// canonicalReader walks canonical JSON; each method consumes what it reads
// and reports whether it was there.
type canonicalReader struct {
	b []byte
	i int
}

// next consumes s if the input continues with it.
func (p *canonicalReader) next(s string) bool {
	if len(p.b)-p.i < len(s) || string(p.b[p.i:p.i+len(s)]) != s {
		return false
	}
	p.i += len(s)
	return true
}

// key consumes sep, then "name":.
func (p *canonicalReader) key(sep, name string) bool {
	n := len(sep) + len(name) + 3
	if len(p.b)-p.i < n || string(p.b[p.i:p.i+len(sep)]) != sep {
		return false
	}
	k := p.b[p.i+len(sep):]
	if k[0] != '"' || string(k[1:1+len(name)]) != name || k[1+len(name)] != '"' || k[2+len(name)] != ':' {
		return false
	}
	p.i += n
	return true
}

// number consumes a decimal integer without sign, exponent, fraction or
// leading zero, of at most max.
func (p *canonicalReader) number(max uint64) (uint64, bool) {
	j := p.i
	for j < len(p.b) && p.b[j] >= '0' && p.b[j] <= '9' {
		j++
	}
	if j == p.i || (p.b[p.i] == '0' && j > p.i+1) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(p.b[p.i:j]), 10, 64)
	p.i = j
	return n, err == nil && n <= max
}

// num consumes a number for v, of at most max.
func num[T int | int64 | uint32 | uint64](p *canonicalReader, v *T, max uint64) bool {
	n, ok := p.number(max)
	*v = T(n)
	return ok
}

// raw consumes a string of printable ASCII other than `"` and `\`, which
// JSON takes as it is, and returns its bytes.
func (p *canonicalReader) raw() ([]byte, bool) {
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return nil, false
	}
	for j := p.i + 1; j < len(p.b); j++ {
		switch c := p.b[j]; {
		case c == '"':
			s := p.b[p.i+1 : j]
			p.i = j + 1
			return s, true
		case c < 0x20 || c > 0x7e || c == '\\':
			return nil, false
		}
	}
	return nil, false
}

func (p *canonicalReader) str(v *string) bool {
	s, ok := p.raw()
	*v = string(s)
	return ok
}

// chunks consumes [] or a list of chunk entries.
func (p *canonicalReader) chunks(v *[]Chunk) bool {
	if p.next("[]") {
		*v = []Chunk{}
		return true
	}
	return list(p, v, p.chunk)
}

// chunk consumes one chunk entry: its fields in order, those left out
// when zero absent.
func (p *canonicalReader) chunk(c *Chunk) bool {
	if !p.next("{") {
		return false
	}
	sep := ""
	if p.key("", "hash") {
		if !p.str(&c.Hash) || c.Hash == "" {
			return false
		}
		sep = ","
	}
	if !p.key(sep, "size") || !num(p, &c.Size, math.MaxInt) {
		return false
	}
	if p.key(",", "version") && (!num(p, &c.Version, math.MaxUint64) || c.Version == 0) {
		return false
	}
	if p.key(",", "seal") && (!p.str(&c.Seal) || c.Seal == "") {
		return false
	}
	if p.key(",", "shards") && !list(p, &c.Shards, p.str) {
		return false
	}
	if p.key(",", "dataShards") && (!num(p, &c.DataShards, math.MaxInt) || c.DataShards == 0) {
		return false
	}
	if p.key(",", "data") {
		s, ok := p.raw()
		if !ok || len(s) == 0 {
			return false
		}
		c.Data = make([]byte, base64.StdEncoding.DecodedLen(len(s)))
		n, err := base64.StdEncoding.Decode(c.Data, s)
		if err != nil {
			return false
		}
		c.Data = c.Data[:n]
	}
	return p.next("}")
}

// list consumes a list of at least one item.
func list[T any](p *canonicalReader, v *[]T, item func(*T) bool) bool {
	if !p.next("[") {
		return false
	}
	for {
		var x T
		if !item(&x) {
			return false
		}
		*v = append(*v, x)
		if p.next("]") {
			return true
		}
		if !p.next(",") {
			return false
		}
	}
}
