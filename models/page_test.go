package models

import "testing"

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
