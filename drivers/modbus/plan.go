package modbus

import (
	"slices"
	"time"
)

// block is one read request: a run of registers (or bits) of one kind that
// covers several points.
type block struct {
	reg    Register
	addr   uint16
	count  uint16
	points []*point
}

// schedule is the set of blocks polled together on one interval.
type schedule struct {
	interval time.Duration
	blocks   []block
}

// plan merges points into the fewest read requests: points of the same kind,
// sorted by address, share a request while the registers between them
// number at most maxGap and the request stays within the spec's limit (125
// registers, 2000 bits; MBAP 6.1-6.4). Bridged registers are read and
// discarded; a larger gap costs bytes but saves a round trip.
func plan(points []*point, maxGap int) []block {
	sorted := slices.Clone(points)
	slices.SortStableFunc(sorted, func(a, b *point) int {
		if a.reg != b.reg {
			return int(a.reg) - int(b.reg)
		}
		return int(a.addr) - int(b.addr)
	})
	var blocks []block
	for _, p := range sorted {
		start, end := int(p.addr), int(p.addr)+int(p.count)
		if n := len(blocks); n > 0 {
			b := &blocks[n-1]
			bEnd := int(b.addr) + int(b.count)
			if b.reg == p.reg && start-bEnd <= maxGap && max(bEnd, end)-int(b.addr) <= p.reg.maxRead() {
				b.count = uint16(max(bEnd, end) - int(b.addr))
				b.points = append(b.points, p)
				continue
			}
		}
		blocks = append(blocks, block{reg: p.reg, addr: p.addr, count: uint16(end - start), points: []*point{p}})
	}
	return blocks
}

// schedules groups points by their poll interval and plans each group.
func schedules(points []*point, maxGap int) []schedule {
	by := map[time.Duration][]*point{}
	var order []time.Duration
	for _, p := range points {
		if _, ok := by[p.interval]; !ok {
			order = append(order, p.interval)
		}
		by[p.interval] = append(by[p.interval], p)
	}
	slices.Sort(order)
	out := make([]schedule, 0, len(order))
	for _, iv := range order {
		out = append(out, schedule{interval: iv, blocks: plan(by[iv], maxGap)})
	}
	return out
}
