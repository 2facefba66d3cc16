package buffer

import (
	"path/filepath"
	"testing"

	"github.com/edgegw/gateway/internal/sinktest"
)

func TestSinkConformance(t *testing.T) {
	t.Run("Publish", func(t *testing.T) {
		sinktest.Run(t, func(t *testing.T) sinktest.Sink {
			b := open(t, Default(filepath.Join(t.TempDir(), "buffer.db")))
			return sinktest.Sink{Sink: b, Close: b.Close}
		})
	})
	t.Run("Async", func(t *testing.T) {
		sinktest.Run(t, func(t *testing.T) sinktest.Sink {
			b := open(t, Default(filepath.Join(t.TempDir(), "buffer.db")))
			return sinktest.Sink{Sink: b.Async(), Close: b.Close}
		})
	})
}
