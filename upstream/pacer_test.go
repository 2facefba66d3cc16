package upstream

import (
	"testing"
	"time"
)

func TestPacer(t *testing.T) {
	p := pacer{interval: rateInterval(2000)}
	start := time.Now()
	for range 101 {
		if err := p.wait(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := time.Since(start), 50*time.Millisecond; got < want {
		t.Errorf("101 messages at 2000/s took %s, want >= %s", got, want)
	}
	unlimited := pacer{interval: rateInterval(0)}
	if err := unlimited.wait(t.Context()); err != nil || unlimited.interval != 0 {
		t.Errorf("max_rate 0: got interval %s err %v, want no pacing", unlimited.interval, err)
	}
}
