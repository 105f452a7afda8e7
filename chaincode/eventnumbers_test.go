package chaincode

import (
	"slices"
	"testing"
)

// TestEventNumbersRoundTrip: what formatEventNumbers writes,
// parseEventNumbers reads back sorted and without repeats; anything else
// stored there is refused, a list past maxEventNumber too.
func TestEventNumbersRoundTrip(t *testing.T) {
	for _, c := range []struct {
		in   []int
		text string
	}{
		{[]int{0}, "0"},
		{[]int{0, 1, 2, 3}, "0-3"},
		{[]int{7, 3, 5, 6, 3}, "3,5-7"},
		{[]int{1, 3, 5, 2000, 2001}, "1,3,5,2000-2001"},
	} {
		b := formatEventNumbers(c.in)
		if string(b) != c.text {
			t.Errorf("%v written as %q, want %q", c.in, b, c.text)
		}
		got, err := parseEventNumbers(b)
		want := slices.Compact(slices.Sorted(slices.Values(c.in)))
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%q read as %v, %v; want %v", b, got, err, want)
		}
	}
	for _, bad := range []string{"", ",", "1,", "-1", "a", "3-1", "1,1", "5,3", "0-100000", "99999999999999999999", "1--2", "1-2-3"} {
		if ns, err := parseEventNumbers([]byte(bad)); err == nil {
			t.Errorf("%q read as %v", bad, ns)
		}
	}
}

func FuzzEventNumbers(f *testing.F) {
	for _, s := range []string{"0", "3,5-7", "1-2,4", "0-99999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ns, err := parseEventNumbers([]byte(s))
		if err != nil {
			return
		}
		if len(ns) > maxEventNumber || !slices.IsSorted(ns) {
			t.Fatalf("%q read as %d numbers", s, len(ns))
		}
		again, err := parseEventNumbers(formatEventNumbers(ns))
		if err != nil || !slices.Equal(again, ns) {
			t.Fatalf("%q: %v does not round-trip: %v, %v", s, ns, again, err)
		}
	})
}
