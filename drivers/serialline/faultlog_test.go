package serialline

import (
	"log/slog"
	"slices"
	"testing"
	"time"
)

func TestFaultLog(t *testing.T) {
	rec := &recorder{}
	fl := faultLog{log: slog.New(rec), msg: "garbage line", every: time.Minute}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

	fl.fault(t0)                       // first: logged
	fl.fault(t0.Add(time.Second))      // suppressed
	fl.fault(t0.Add(59 * time.Second)) // suppressed
	fl.fault(t0.Add(time.Minute))      // a minute on: logged with the count
	fl.fault(t0.Add(61 * time.Second)) // suppressed
	fl.ok()                            // episode over: logged with the total
	fl.ok()                            // nothing more
	fl.fault(t0.Add(62 * time.Second)) // a new episode: logged at once

	want := []string{"garbage line", "garbage line", "garbage lines stopped", "garbage line"}
	if got := rec.messages(); !slices.Equal(got, want) {
		t.Fatalf("messages = %q, want %q", got, want)
	}
	rec.recs = rec.recs[:2]
	if v, _ := rec.attr("garbage line", "more_since_last_log"); v.Uint64() != 3 {
		t.Errorf("more_since_last_log = %v, want 3", v)
	}
	rec.recs = nil
	fl.ok()
	fl2 := faultLog{log: slog.New(rec), msg: "x", every: time.Minute}
	fl2.fault(t0)
	fl2.fault(t0)
	fl2.ok()
	if v, _ := rec.attr("xs stopped", "count"); v.Uint64() != 2 {
		t.Errorf("count = %v, want 2", v)
	}
}
