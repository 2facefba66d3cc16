package serialline

import (
	"bytes"
	"context"
	"fmt"

	"github.com/edgegw/gateway"
)

// WriteData is what write_template sees: {{.Point}}, {{.Value}} and {{.Raw}}.
type WriteData struct {
	Point string        // the point name
	Value gateway.Value // the value as commanded, printed in plain text
	Raw   gateway.Value // Value with the point's scale and offset undone
}

// WritePoint renders write_template for point and v and writes the result to
// the device as one line (the line terminator is appended when the template
// does not end with it). It returns once the line is handed to the port; a
// line protocol has no confirmation. With points configured, another name
// is gateway.ErrUnknownPoint; without a write template every point is
// read-only (gateway.ErrNotWritable); while the port is gone the error wraps
// ErrNotOpen. Safe for concurrent use with Run.
func (d *Driver) WritePoint(ctx context.Context, point string, v gateway.Value) error {
	p, known := d.byName[point]
	if !known && len(d.points) > 0 {
		return fmt.Errorf("write %s: %w", point, gateway.ErrUnknownPoint)
	}
	if d.tmpl == nil {
		return fmt.Errorf("write %s: %w: no write_template configured", point, gateway.ErrNotWritable)
	}
	data := WriteData{Point: point, Value: v, Raw: v}
	if known {
		data.Raw = p.unconvert(v)
	}
	var buf bytes.Buffer
	if err := d.tmpl.Execute(&buf, data); err != nil {
		return fmt.Errorf("write %s: render write_template: %w", point, err)
	}
	if !bytes.HasSuffix(buf.Bytes(), d.term) {
		buf.Write(d.term)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("write %s: %w", point, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.port == nil {
		return fmt.Errorf("write %s: %w", point, ErrNotOpen)
	}
	if _, err := d.port.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write %s to serial port %s: %w", point, d.cfg.Port, err)
	}
	d.log.Debug("wrote command", "point", point, "line", buf.String())
	return nil
}
