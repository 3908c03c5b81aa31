package models

import (
	"math"
	"testing"
)

func TestClampPage(t *testing.T) {
	for _, c := range []struct{ page, size, def, limit, wantPage, wantSize int }{
		{0, 0, 20, 100, 1, 20},
		{-3, -1, 20, 100, 1, 20},
		{2, 50, 20, 100, 2, 50},
		{1, 101, 20, 100, 1, 100},
		{5, -1, 0, 1000, 5, 0}, // SCIM: a negative count is 0
		{1, 0, 0, 1000, 1, 0},
		{0, 5000, 0, 1000, 1, 1000},
	} {
		p, s := ClampPage(c.page, c.size, c.def, c.limit)
		if p != c.wantPage || s != c.wantSize {
			t.Errorf("ClampPage(%d, %d, %d, %d) = %d, %d; want %d, %d", c.page, c.size, c.def, c.limit, p, s, c.wantPage, c.wantSize)
		}
	}
}

func TestPageOffset(t *testing.T) {
	for _, c := range []struct{ page, size, want int }{
		{1, 20, 0}, {0, 20, 0}, {2, 20, 20}, {3, 100, 200},
		{922337203685477581, 20, math.MaxInt}, // (page-1)×20 wraps round to -16
		{math.MaxInt, 100, math.MaxInt},
		{math.MaxInt/20 + 1, 20, math.MaxInt / 20 * 20},
	} {
		if got := PageOffset(c.page, c.size); got != c.want {
			t.Errorf("PageOffset(%d, %d) = %d; want %d", c.page, c.size, got, c.want)
		}
	}
}
