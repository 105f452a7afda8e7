package shards

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

const unit = 4112

func TestAnyKShardsRebuildTheObject(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, l := range []Layout{{1, 1}, {2, 1}, {3, 2}, {4, 2}} {
		for _, size := range []int{1, unit, unit + 1, 3*unit - 7, 255 * unit, 256*unit + 100} {
			obj := make([]byte, size)
			for i := range obj {
				obj[i] = byte(r.Uint32())
			}
			sh, err := l.Split(obj, unit)
			if err != nil {
				t.Fatal(err)
			}
			if len(sh) != l.N() {
				t.Fatalf("%s: %d shards", l, len(sh))
			}
			var joined []byte
			for j := range l.K {
				if len(sh[j]) != l.Len(j, size, unit) || len(sh[j])%unit != 0 && j < l.K-1 && l.DataLen(j+1, size, unit) > 0 {
					t.Fatalf("%s size %d: shard %d is %d bytes, want %d", l, size, j, len(sh[j]), l.Len(j, size, unit))
				}
				joined = append(joined, sh[j]...)
			}
			if !bytes.Equal(joined, obj) {
				t.Fatalf("%s size %d: data shards are not the object", l, size)
			}
			// Every way of losing m shards.
			for lost := range 1 << l.N() {
				if popcount(lost) != l.M {
					continue
				}
				have := make([][]byte, l.N())
				for j := range have {
					if lost&(1<<j) == 0 {
						have[j] = sh[j]
					}
				}
				got, err := l.Join(have, size, unit)
				if err != nil || !bytes.Equal(got, obj) {
					t.Fatalf("%s size %d lost %b: %v", l, size, lost, err)
				}
				// A range of each lost data shard, from the same range of the others.
				for j := range l.K {
					if lost&(1<<j) == 0 || len(sh[j]) == 0 {
						continue
					}
					off := r.IntN(len(sh[j]))
					n := 1 + r.IntN(len(sh[j])-off)
					part := make([][]byte, l.N())
					for i := range have {
						if have[i] != nil {
							part[i] = have[i][min(off, len(have[i])):min(off+n, len(have[i]))]
						}
					}
					got, err := l.Rebuild(j, part, size, unit, off, n)
					if err != nil || !bytes.Equal(got, sh[j][off:off+n]) {
						t.Fatalf("%s size %d: range %d+%d of shard %d: %v", l, size, off, n, j, err)
					}
				}
			}
			// Fewer than k: refused.
			few := make([][]byte, l.N())
			copy(few, sh[:l.K-1])
			if _, err := l.Join(few, size, unit); err == nil && l.K > 1 {
				t.Fatalf("%s: rebuilt from %d shards", l, l.K-1)
			}
		}
	}
}

func TestPiecesCoverTheRange(t *testing.T) {
	l := Layout{3, 2}
	size := 256*unit + 50
	s := l.ShardSize(size, unit)
	for _, c := range [][2]int{{0, size}, {0, 1}, {s - 1, 2}, {size - 10, 10}, {s, s}, {5, 2*s + 3}} {
		got, at := 0, 0
		for _, p := range l.Pieces(size, unit, c[0], c[1]) {
			if p.At != at || p.Off+p.Len > l.DataLen(p.Shard, size, unit) || p.Shard*s+p.Off != c[0]+p.At {
				t.Fatalf("range %v: bad piece %+v", c, p)
			}
			at += p.Len
			got += p.Len
		}
		if got != min(c[1], size-c[0]) {
			t.Fatalf("range %v: pieces cover %d bytes", c, got)
		}
	}
}

func TestParseLayouts(t *testing.T) {
	for s, ok := range map[string]bool{"2+1": true, "1+1": true, " 4+2 ": true, "3": false, "0+1": false, "2+0": false, "20+20": false, "a+b": false} {
		if _, err := Parse(s); (err == nil) != ok {
			t.Errorf("Parse(%q): %v", s, err)
		}
	}
	for l, want := range map[Layout]int{{1, 1}: 1, {2, 1}: 2, {4, 2}: 5, {3, 3}: 4} {
		if got := l.Stored(false); got != want {
			t.Errorf("%s stored at %d shards, want %d", l, got, want)
		}
		if l.Stored(true) != l.N() {
			t.Errorf("%s: all is not every shard", l)
		}
	}
}

func popcount(x int) int {
	n := 0
	for ; x != 0; x &= x - 1 {
		n++
	}
	return n
}
