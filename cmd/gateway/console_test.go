package main

import (
	"io"
	"testing"

	"github.com/edgegw/gateway/internal/sinktest"
)

func TestConsoleSinkConformance(t *testing.T) {
	sinktest.Run(t, func(t *testing.T) sinktest.Sink { return sinktest.Sink{Sink: &console{w: io.Discard}} })
}
