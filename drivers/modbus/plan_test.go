package modbus

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func pt(reg Register, addr, count int) *point {
	return &point{reg: reg, addr: uint16(addr), count: uint16(count), interval: time.Second}
}

func TestPlan(t *testing.T) {
	tests := []struct {
		name   string
		points []*point
		gap    int
		want   [][3]int // reg, addr, count
	}{
		{"adjacent", []*point{pt(Holding, 2, 2), pt(Holding, 0, 2)}, 0, [][3]int{{2, 0, 4}}},
		{"gap bridged", []*point{pt(Holding, 0, 1), pt(Holding, 11, 1)}, 10, [][3]int{{2, 0, 12}}},
		{"gap too wide", []*point{pt(Holding, 0, 1), pt(Holding, 12, 1)}, 10, [][3]int{{2, 0, 1}, {2, 12, 1}}},
		{"kinds apart", []*point{pt(Holding, 0, 1), pt(Input, 1, 1), pt(Coil, 0, 1)}, 10, [][3]int{{0, 0, 1}, {2, 0, 1}, {3, 1, 1}}},
		{"125 register limit", []*point{pt(Input, 0, 4), pt(Input, 121, 4), pt(Input, 122, 4)}, 200, [][3]int{{3, 0, 125}, {3, 122, 4}}},
		{"2000 coil limit", []*point{pt(Coil, 0, 1), pt(Coil, 1999, 1), pt(Coil, 2000, 1)}, 5000, [][3]int{{0, 0, 2000}, {0, 2000, 1}}},
		{"overlap", []*point{pt(Holding, 0, 4), pt(Holding, 1, 1), pt(Holding, 4, 2)}, 0, [][3]int{{2, 0, 6}}},
	}
	for _, tt := range tests {
		var got [][3]int
		for _, b := range plan(tt.points, tt.gap) {
			got = append(got, [3]int{int(b.reg), int(b.addr), int(b.count)})
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

// minRequests is the fewest requests that cover points of one kind, by
// dynamic programming over every split of the address-sorted points.
func minRequests(ps []*point, gap, limit int) int {
	ps = slices.Clone(ps)
	slices.SortFunc(ps, func(a, b *point) int { return int(a.addr) - int(b.addr) })
	best := make([]int, len(ps)+1) // best[i]: fewest requests for ps[:i]
	for i := 1; i <= len(ps); i++ {
		best[i] = 1 << 30
		start, end := int(ps[i-1].addr), int(ps[i-1].addr)+int(ps[i-1].count)
		for j := i - 1; j >= 0; j-- { // ps[j:i] in one request
			p := ps[j]
			start = min(start, int(p.addr))
			if j < i-1 && int(ps[j+1].addr)-maxEnd(ps[j:j+1]) > gap {
				break
			}
			end = max(end, int(p.addr)+int(p.count))
			if end-start > limit {
				break
			}
			best[i] = min(best[i], best[j]+1)
		}
	}
	return best[len(ps)]
}

func maxEnd(ps []*point) int {
	e := 0
	for _, p := range ps {
		e = max(e, int(p.addr)+int(p.count))
	}
	return e
}

func TestPlanIsMinimal(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 500 {
		var ps []*point
		a := 0
		for range 1 + r.IntN(60) {
			a += r.IntN(30)
			ps = append(ps, pt(Holding, a, []int{1, 2, 4}[r.IntN(3)]))
			a += int(ps[len(ps)-1].count)
		}
		gap := r.IntN(20)
		got := len(plan(ps, gap))
		if want := minRequests(ps, gap, maxReadRegisters); got != want {
			t.Fatalf("gap %d: %d requests, minimum %d", gap, got, want)
		}
	}
}
