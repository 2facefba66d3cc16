package serialline

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"go.bug.st/serial"
)

// Errors of opening and writing a port, checked with errors.Is.
var (
	// ErrPermission: the port exists but the gateway may not open it.
	ErrPermission = errors.New("permission denied")
	// ErrNotOpen: a write while the port is gone.
	ErrNotOpen = errors.New("serial port is not open")
)

// dialoutHint explains the usual cause of ErrPermission on Debian and
// Raspberry Pi OS, where serial devices belong to the group dialout.
const dialoutHint = "serial ports belong to the group dialout: add the user running the gateway " +
	"with 'sudo usermod -aG dialout $USER' (for a service: its User=), then log in again or restart the service"

var parities = map[string]serial.Parity{
	"none": serial.NoParity,
	"even": serial.EvenParity,
	"odd":  serial.OddParity,
}

var stopBits = map[int]serial.StopBits{
	1: serial.OneStopBit,
	2: serial.TwoStopBits,
}

// openFunc opens a serial port; serial.Open, or a fake in tests.
type openFunc func(path string, mode *serial.Mode) (serial.Port, error)

// openPort opens the port once and turns the errors a user can act on into
// clear ones.
func (d *Driver) openPort() (serial.Port, error) {
	p, err := d.open(d.cfg.Port, &d.mode)
	if err == nil {
		return p, nil
	}
	var pe *serial.PortError
	if (errors.As(err, &pe) && pe.Code() == serial.PermissionDenied) || errors.Is(err, fs.ErrPermission) {
		return nil, fmt.Errorf("open serial port %s: %w: %s", d.cfg.Port, ErrPermission, dialoutHint)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("open serial port %s: %w (unplugged, or the wrong path: see ls /dev/serial/by-id/)", d.cfg.Port, err)
	}
	return nil, fmt.Errorf("open serial port %s: %w", d.cfg.Port, err)
}

// openKind classifies an open error so that it is logged once per change.
func openKind(err error) string {
	switch {
	case errors.Is(err, ErrPermission):
		return "permission"
	case errors.Is(err, fs.ErrNotExist):
		return "missing"
	}
	return err.Error()
}

// waitOpen opens the port, first after wait, then retrying with backoff
// (doubling from ReopenMin up to ReopenMax) until it succeeds or ctx is
// cancelled. quiet is the kind of failure that is expected and not worth a
// log line (a port that is gone is missing until it returns). It returns the
// port and the wait the next attempt would have used.
func (d *Driver) waitOpen(ctx context.Context, quiet string, wait time.Duration) (serial.Port, time.Duration, error) {
	logged := quiet
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, wait, ctx.Err()
		case <-t.C:
		}
		wait = d.nextWait(wait)
		p, err := d.openPort()
		if err == nil {
			return p, wait, nil
		}
		if k := openKind(err); k != logged {
			logged = k
			if errors.Is(err, ErrPermission) {
				d.log.Error("cannot open serial port, will retry", "err", err)
			} else {
				d.log.Warn("cannot open serial port, will retry", "err", err)
			}
		}
		t.Reset(wait)
	}
}

// nextWait doubles a backoff wait within [ReopenMin, ReopenMax].
func (d *Driver) nextWait(wait time.Duration) time.Duration {
	return min(max(2*wait, d.cfg.ReopenMin), d.cfg.ReopenMax)
}
