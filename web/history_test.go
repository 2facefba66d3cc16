package web

import (
	"testing"
	"time"
)

func TestHistoryRing(t *testing.T) {
	h := newHistory(3)
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, ok := h.last(); ok {
		t.Fatal("last of an empty history: ok")
	}
	for i := range 5 {
		h.add(Sample{Time: t0.Add(time.Duration(i) * time.Second), Depth: int64(i), HasDepth: true}, nil, "")
	}
	got := h.list()
	if len(got) != 3 || got[0].Depth != 2 || got[2].Depth != 4 {
		t.Errorf("list = %+v, want depths 2, 3, 4", got)
	}
	if last, ok := h.last(); !ok || last.Depth != 4 {
		t.Errorf("last = %+v, %v; want depth 4", last, ok)
	}
}

func TestHistoryOutages(t *testing.T) {
	h := newHistory(10)
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	states := []string{"", "down", "down", "up", "up", "down", "up", "down"}
	for i, st := range states {
		h.add(Sample{Time: t0.Add(time.Duration(i) * time.Minute), Uplink: st}, nil, "err "+st)
	}
	outages, total, since := h.uplinkState()
	if total != 3 || len(outages) != 3 {
		t.Fatalf("outages = %d (total %d), want 3", len(outages), total)
	}
	want := []Outage{
		{Start: t0.Add(7 * time.Minute), Error: "err down"},
		{Start: t0.Add(5 * time.Minute), End: t0.Add(6 * time.Minute), Error: "err down"},
		{Start: t0.Add(1 * time.Minute), End: t0.Add(3 * time.Minute), Error: "err down"},
	}
	for i := range want {
		if outages[i] != want[i] {
			t.Errorf("outage %d = %+v, want %+v", i, outages[i], want[i])
		}
	}
	if !since.Equal(t0.Add(7 * time.Minute)) {
		t.Errorf("since = %v, want the last transition", since)
	}

	for i := range 2*maxOutages + 5 {
		st := "down"
		if i%2 == 1 {
			st = "up"
		}
		h.add(Sample{Time: t0.Add(time.Hour + time.Duration(i)*time.Second), Uplink: st}, nil, "")
	}
	if outages, _, _ := h.uplinkState(); len(outages) != maxOutages {
		t.Errorf("kept %d outages, want %d", len(outages), maxOutages)
	}
}
