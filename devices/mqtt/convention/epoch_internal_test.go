package convention

import (
	"testing"
	"time"
)

// Epoch timestamps keep every millisecond, in seconds or milliseconds.
func TestEpochKeepsMilliseconds(t *testing.T) {
	cases := []struct {
		in   float64
		want time.Time
	}{
		{1795659628698, time.UnixMilli(1795659628698)},
		{1795659628001, time.UnixMilli(1795659628001)},
		{1795659628.698, time.UnixMilli(1795659628698)},
		{1795659628, time.Unix(1795659628, 0)},
	}
	for _, c := range cases {
		got, ok := epoch(c.in)
		if !ok || !got.Equal(c.want) {
			t.Errorf("epoch(%v) = %v, %v; want %v", c.in, got, ok, c.want.UTC())
		}
	}
	for _, bad := range []float64{-1, 2e15} {
		if _, ok := epoch(bad); ok {
			t.Errorf("epoch(%v) accepted", bad)
		}
	}
}
