package upstream

import (
	"context"
	"sync"
	"testing"

	"github.com/edgegw/gateway"
	"github.com/edgegw/gateway/internal/sinktest"
)

// closingSink stands for the buffer Filter passes to: ErrClosed after Close.
type closingSink struct {
	mu     sync.Mutex
	closed bool
}

func (s *closingSink) Publish(ctx context.Context, m gateway.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return gateway.ErrClosed
	}
	return nil
}

func (s *closingSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

func TestFilterSinkConformance(t *testing.T) {
	sinktest.Run(t, func(t *testing.T) sinktest.Sink {
		next := &closingSink{}
		return sinktest.Sink{Sink: Filter([]ForwardRule{{Filter: "sinktest/#"}}, next), Close: next.Close}
	})
}
