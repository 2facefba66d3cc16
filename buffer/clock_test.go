package buffer

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/edgegw/gateway/internal/clock"
	"github.com/edgegw/gateway/internal/testutil"
)

// waitAgeCheck nudges the writer until it has checked ages once more than
// before, and returns the stats after it.
func waitAgeCheck(t *testing.T, b *Buffer) Stats {
	t.Helper()
	before := b.ageChecks.Load()
	testutil.WaitFor(t, 15*time.Second, "an age check", func() bool {
		b.nudge()
		return b.ageChecks.Load() > before+1 // +1: one that began before the clock moved may end after
	})
	s, err := b.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestMaxAgeOnAClockThatCannotJump: a Pi's wall clock jumps by days when
// NTP first syncs it (and may be set back). Ages are measured by the time
// since boot, so neither jump drops the backlog early or keeps it longer;
// only time that really passed does. Rows of an earlier boot fall back to
// the wall clock.
func TestMaxAgeOnAClockThatCannotJump(t *testing.T) {
	path := filepath.Join(t.TempDir(), "buffer.db")
	clk := clock.NewFake(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	cfg := Default(path)
	cfg.MaxAge, cfg.Clock = 24*time.Hour, clk
	b := open(t, cfg)
	for i := range 5 {
		if err := b.Publish(t.Context(), msg("site/x", i)); err != nil {
			t.Fatal(err)
		}
	}

	// NTP: the wall clock jumps ten days forward. Nothing is a day old.
	clk.Jump(10 * 24 * time.Hour)
	if s := waitAgeCheck(t, b); s.Depth != 5 || s.Drops != 0 {
		t.Fatalf("after a 10-day forward jump: depth %d, drops %d; want 5 kept", s.Depth, s.Drops)
	}
	// Set back by 20 days: still 5 messages, and new ones are accepted.
	clk.Jump(-20 * 24 * time.Hour)
	clk.Advance(23 * time.Hour)
	for i := range 3 {
		if err := b.Publish(t.Context(), msg("site/y", i)); err != nil {
			t.Fatal(err)
		}
	}
	if s := waitAgeCheck(t, b); s.Depth != 8 || s.Drops != 0 {
		t.Fatalf("after a 20-day backward jump and 23h: depth %d, drops %d; want 8 kept", s.Depth, s.Drops)
	}
	// Two real hours later the first five are over a day old, by the
	// clock that cannot jump (the wall clock says they are from the future).
	clk.Advance(2 * time.Hour)
	if s := waitAgeCheck(t, b); s.Depth != 3 || s.Drops != 5 || s.DropsByPrefix["site/x"] != 5 {
		t.Fatalf("25h after the first: depth %d, drops %+v; want the 5 site/x dropped", s.Depth, s.DropsByPrefix)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	// After a reboot the boot id differs: the wall clock decides. It is 9
	// days behind the rows' acceptance, so they are kept; once it is past
	// them by over a day, they go.
	clk.Reboot("boot-2")
	b = open(t, cfg)
	if s := waitAgeCheck(t, b); s.Depth != 3 {
		t.Fatalf("after a reboot: depth %d, want 3 (wall clock behind)", s.Depth)
	}
	clk.Jump(11 * 24 * time.Hour)
	testutil.WaitFor(t, 15*time.Second, "all 8 dropped after a reboot and the wall clock 2 days past", func() bool {
		s, err := b.Stats(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if s.Depth == 0 && s.Drops == 8 {
			return true
		}
		b.nudge()
		return false
	})
}
