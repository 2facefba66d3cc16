package broker

import (
	"testing"

	"github.com/edgegw/gateway/internal/sinktest"
)

func TestSinkConformance(t *testing.T) {
	sinktest.Run(t, func(t *testing.T) sinktest.Sink {
		b, err := New(Config{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() }) // closing twice is harmless
		return sinktest.Sink{Sink: b, Close: b.Close}
	})
}
