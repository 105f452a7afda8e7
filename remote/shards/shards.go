// Package shards cuts an object into k data and m parity shards with a systematic Reed-Solomon code, and rebuilds the object, or any byte range of it, from any k of them.
package shards

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/klauspost/reedsolomon"
)

// MaxShards bounds k+m: one shard per remote, and a manifest entry lists
// every shard's hash.
const MaxShards = 32

// Layout is k data shards and m parity shards: any k of the k+m rebuild
// the object.
type Layout struct {
	K, M int
}

// Parse reads a layout written "K+M" ("2+1"; "1+1" is a mirror).
func Parse(s string) (Layout, error) {
	k, m, ok := strings.Cut(strings.TrimSpace(s), "+")
	if !ok {
		return Layout{}, fmt.Errorf("shards %q: want DATA+PARITY, such as 2+1", s)
	}
	var l Layout
	var err1, err2 error
	l.K, err1 = strconv.Atoi(k)
	l.M, err2 = strconv.Atoi(m)
	if err1 != nil || err2 != nil {
		return Layout{}, fmt.Errorf("shards %q: want DATA+PARITY, such as 2+1", s)
	}
	return l, l.Validate()
}

// Validate checks the layout is one the code takes.
func (l Layout) Validate() error {
	switch {
	case l.K < 1:
		return fmt.Errorf("shards %s: at least one data shard", l)
	case l.M < 1:
		return fmt.Errorf("shards %s: at least one parity shard (one remote needs no shards)", l)
	case l.K+l.M > MaxShards:
		return fmt.Errorf("shards %s: at most %d shards in all", l, MaxShards)
	}
	return nil
}

func (l Layout) String() string { return fmt.Sprintf("%d+%d", l.K, l.M) }

// N is the number of shards, one per remote.
func (l Layout) N() int { return l.K + l.M }

// Stored is how many shards must be on their remotes before an object
// counts as stored: k+1 (one more loss survivable), but never every shard
// when there is parity, so that one remote down does not stop writing;
// every one with all.
func (l Layout) Stored(all bool) int {
	if all {
		return l.N()
	}
	return l.K + min(1, l.M-1)
}

// ShardSize is the size of each shard of an object of size bytes cut at
// multiples of unit (a data shard holds whole units; the last ones may be
// shorter, or empty).
func (l Layout) ShardSize(size, unit int) int {
	units := (size + unit - 1) / unit
	return unit * ((units + l.K - 1) / l.K)
}

// DataLen is the length of data shard j of an object of size bytes: the
// object's bytes [j*S, (j+1)*S), S the shard size.
func (l Layout) DataLen(j, size, unit int) int {
	s := l.ShardSize(size, unit)
	return min(max(size-j*s, 0), s)
}

// Len is the stored length of shard j (data shards as DataLen, parity
// shards the shard size).
func (l Layout) Len(j, size, unit int) int {
	if j >= l.K {
		return l.ShardSize(size, unit)
	}
	return l.DataLen(j, size, unit)
}

var (
	codersMu sync.Mutex
	coders   = map[Layout]reedsolomon.Encoder{}
)

// coder is the Reed-Solomon coder of the layout: klauspost/reedsolomon's
// default (a Vandermonde matrix made systematic, GF(2^8)).
func (l Layout) coder() (reedsolomon.Encoder, error) {
	if err := l.Validate(); err != nil {
		return nil, err
	}
	codersMu.Lock()
	defer codersMu.Unlock()
	if c, ok := coders[l]; ok {
		return c, nil
	}
	c, err := reedsolomon.New(l.K, l.M)
	if err != nil {
		return nil, err
	}
	coders[l] = c
	return c, nil
}

// Split cuts obj into its k+m shards: data shards are slices of obj (not
// copies), parity shards are new.
func (l Layout) Split(obj []byte, unit int) ([][]byte, error) {
	c, err := l.coder()
	if err != nil {
		return nil, err
	}
	s := l.ShardSize(len(obj), unit)
	out := make([][]byte, l.N())
	work := make([][]byte, l.N())
	for j := range l.K {
		n := l.DataLen(j, len(obj), unit)
		at := min(j*s, len(obj))
		out[j] = obj[at : at+n : at+n]
		work[j] = out[j]
		if n < s { // encoded as if zeros followed
			work[j] = make([]byte, s)
			copy(work[j], out[j])
		}
	}
	if s == 0 {
		for j := l.K; j < l.N(); j++ {
			out[j] = []byte{}
		}
		return out, nil
	}
	parity := make([]byte, s*l.M)
	for j := range l.M {
		work[l.K+j] = parity[j*s : (j+1)*s : (j+1)*s]
		out[l.K+j] = work[l.K+j]
	}
	if err := c.Encode(work); err != nil {
		return nil, err
	}
	return out, nil
}

// ErrTooFew is fewer than k shards to rebuild from.
var ErrTooFew = errors.New("fewer good shards than data shards")

// Rebuild returns bytes [off, off+n) of shard want, given the same byte
// range [off, off+n) of other shards (have[j] nil where missing; a data
// shard that ends before off+n is given as far as it goes). n and off are
// within the shard size.
func (l Layout) Rebuild(want int, have [][]byte, size, unit, off, n int) ([]byte, error) {
	c, err := l.coder()
	if err != nil {
		return nil, err
	}
	work := make([][]byte, l.N())
	good := 0
	for j := range l.N() {
		if j == want || have[j] == nil || good == l.K {
			continue
		}
		// A short data shard is zeros past its end, as it was encoded.
		w := make([]byte, n)
		copy(w, have[j])
		work[j] = w
		good++
	}
	if good < l.K {
		return nil, ErrTooFew
	}
	required := make([]bool, len(work))
	required[want] = true
	if err := c.ReconstructSome(work, required); err != nil {
		return nil, err
	}
	got := work[want][:n]
	if want < l.K {
		got = got[:min(n, max(l.DataLen(want, size, unit)-off, 0))]
	}
	return got, nil
}

// Join rebuilds the whole object of size bytes from its shards (nil where
// missing); each given shard must have its full stored length.
func (l Layout) Join(have [][]byte, size, unit int) ([]byte, error) {
	s := l.ShardSize(size, unit)
	obj := make([]byte, 0, size)
	for j := range l.K {
		part := have[j]
		if part == nil {
			var err error
			if part, err = l.Rebuild(j, have, size, unit, 0, s); err != nil {
				return nil, err
			}
		}
		obj = append(obj, part[:l.DataLen(j, size, unit)]...)
	}
	return obj, nil
}

// Piece is part of an object's byte range held by one data shard.
type Piece struct {
	Shard int // data shard
	Off   int // offset in the shard
	Len   int
	At    int // offset in the range asked for
}

// Pieces maps bytes [off, off+n) of an object of size bytes onto its data
// shards.
func (l Layout) Pieces(size, unit, off, n int) []Piece {
	s := l.ShardSize(size, unit)
	var out []Piece
	end := min(off+n, size)
	for at := off; at < end; {
		j := at / s
		take := min(end, (j+1)*s) - at
		out = append(out, Piece{Shard: j, Off: at - j*s, Len: take, At: at - off})
		at += take
	}
	return out
}
