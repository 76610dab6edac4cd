package main

import (
	"fmt"
	"slices"
	"testing"
)

func TestSchedule_ABBA(t *testing.T) {
	got := fmt.Sprint(schedule(2, 4))
	if want := "[[0 1] [1 0] [0 1] [1 0]]"; got != want {
		t.Errorf("schedule(2, 4) = %s, want %s", got, want)
	}
}

func TestSample(t *testing.T) {
	qs := make([]CheckQuery, 10)
	for i := range qs {
		qs[i].Permission = fmt.Sprint(i)
	}
	t.Run("all when few", func(t *testing.T) {
		if got := sample(qs, 20, 1); len(got) != 10 {
			t.Errorf("len = %d, want 10", len(got))
		}
	})
	t.Run("seeded and distinct", func(t *testing.T) {
		a, b := sample(qs, 4, 7), sample(qs, 4, 7)
		if !slices.EqualFunc(a, b, func(x, y CheckQuery) bool { return x.Permission == y.Permission }) {
			t.Errorf("same seed gave %v and %v", a, b)
		}
		seen := map[string]bool{}
		for _, q := range a {
			if seen[q.Permission] {
				t.Errorf("duplicate %s in %v", q.Permission, a)
			}
			seen[q.Permission] = true
		}
	})
}
