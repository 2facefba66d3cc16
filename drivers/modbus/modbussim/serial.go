package modbussim

import (
	"context"
	"fmt"
	"time"

	"go.bug.st/serial"
)

// ServeSerial opens the serial port at path (8 data bits, 1 stop bit, the
// given baud and parity: none, even or odd) and answers requests to slave on
// it with ServeRTU until ctx is cancelled.
func (s *Server) ServeSerial(ctx context.Context, path string, baud int, parity string, slave byte) error {
	mode := &serial.Mode{BaudRate: baud, DataBits: 8, StopBits: serial.OneStopBit}
	switch parity {
	case "none":
	case "even":
		mode.Parity = serial.EvenParity
	case "odd":
		mode.Parity = serial.OddParity
	default:
		return fmt.Errorf("modbussim: parity %q: want none, even or odd", parity)
	}
	port, err := serial.Open(path, mode)
	if err != nil {
		return fmt.Errorf("modbussim: open %s: %w", path, err)
	}
	defer port.Close() // serving is over; nothing was written that a close could lose
	// Short reads let ServeRTU notice cancellation.
	if err := port.SetReadTimeout(50 * time.Millisecond); err != nil {
		return fmt.Errorf("modbussim: %s: %w", path, err)
	}
	return s.ServeRTU(ctx, port, slave)
}
