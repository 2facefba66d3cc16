package serialline

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"text/template"
	"time"

	"github.com/edgegw/gateway"
	"go.bug.st/serial"
)

// faultLogEvery is how often a fault that goes on is logged again.
const faultLogEvery = time.Minute

// Driver reads one serial line device. Create it with New; Run reads until
// its context is cancelled, Stats may be called at any time, and WritePoint
// (with a write template) concurrently with Run.
type Driver struct {
	cfg     Config
	log     *slog.Logger
	mode    serial.Mode
	parser  Parser
	points  []point // empty: emit every field
	byName  map[string]*point
	missing bool // emit a bad reading for a missing field
	term    []byte
	split   *splitter
	tmpl    *template.Template // nil: not writable

	open openFunc
	now  func() time.Time

	linesOK, garbage, tooLong, partial, badValues, reopens atomic.Uint64
	connected                                              atomic.Bool

	garbageLog, tooLongLog, partialLog, badLog faultLog

	mu   sync.Mutex
	port serial.Port // the open port, for WritePoint; nil while gone
}

var (
	_ gateway.Driver      = (*Driver)(nil)
	_ gateway.Writer      = (*Driver)(nil)
	_ gateway.PollCounter = (*Driver)(nil)
)

// New validates cfg (see Config.Validate), fills in its defaults and returns
// the driver. log receives the driver's messages, with the device and port
// attached.
func New(cfg Config, log *slog.Logger) (*Driver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("serial device %q: %w", cfg.Device, err)
	}
	cfg = cfg.withDefaults()
	log = log.With("device", cfg.Device, "port", cfg.Port)
	term, _ := terminatorOf(cfg.LineTerminator) // validated above
	d := &Driver{
		cfg: cfg,
		log: log,
		mode: serial.Mode{
			BaudRate: cfg.Baud,
			DataBits: cfg.DataBits,
			Parity:   parities[cfg.Parity],
			StopBits: stopBits[cfg.StopBits],
		},
		missing: cfg.Missing == MissingBad,
		term:    []byte(cfg.LineTerminator),
		split:   newSplitter(term, term == '\n', cfg.MaxLineLength),
		byName:  make(map[string]*point),
		open:    serial.Open,
		now:     time.Now,
	}
	var err error
	if d.parser, err = newParser(cfg); err != nil {
		return nil, fmt.Errorf("serial device %q: %w", cfg.Device, err)
	}
	for _, p := range cfg.Points {
		d.points = append(d.points, compilePoint(p))
	}
	for i := range d.points {
		d.byName[d.points[i].name] = &d.points[i]
	}
	if cfg.WriteTemplate != "" {
		d.tmpl = template.Must(template.New("write_template").Parse(cfg.WriteTemplate)) // validated above
	}
	d.garbageLog = faultLog{log: log, msg: "garbage line", every: faultLogEvery}
	d.tooLongLog = faultLog{log: log, msg: "over-long line", every: faultLogEvery}
	d.partialLog = faultLog{log: log, msg: "partial line", every: faultLogEvery}
	d.badLog = faultLog{log: log, msg: "bad value", every: faultLogEvery}
	return d, nil
}

// newParser returns the parser of cfg.Format; cfg is valid.
func newParser(cfg Config) (Parser, error) {
	switch cfg.Format {
	case FormatJSON:
		return JSONParser{}, nil
	case FormatKV:
		return KVParser{PairSeparator: cfg.PairSeparator, KVSeparator: cfg.KVSeparator}, nil
	case FormatCSV:
		delim, err := delimiterOf(cfg.Delimiter)
		return CSVParser{Columns: cfg.Columns, Delimiter: delim}, err
	case FormatRegex:
		return NewRegexParser(cfg.Pattern)
	}
	return nil, fmt.Errorf("format %q: want json, kv, csv or regex", cfg.Format)
}

// Stats are the driver's counters since New.
type Stats struct {
	LinesOK   uint64 // lines parsed
	Garbage   uint64 // lines not in the configured format
	TooLong   uint64 // lines over max_line_length, dropped
	Partial   uint64 // line fragments cut off when the port went away
	BadValues uint64 // readings emitted with QualityBad
	Reopens   uint64 // times the port was opened again after it went away
	Connected bool   // the port is open now
}

// Stats returns the driver's counters. It is safe to call at any time.
func (d *Driver) Stats() Stats {
	return Stats{
		LinesOK:   d.linesOK.Load(),
		Garbage:   d.garbage.Load(),
		TooLong:   d.tooLong.Load(),
		Partial:   d.partial.Load(),
		BadValues: d.badValues.Load(),
		Reopens:   d.reopens.Load(),
		Connected: d.connected.Load(),
	}
}

// PollCounts counts each line received (parsed, garbage or over-long) as
// one poll and one request; the lines that could not be parsed failed.
func (d *Driver) PollCounts() gateway.PollCounts {
	lines := d.linesOK.Load() + d.garbage.Load() + d.tooLong.Load()
	failed := d.garbage.Load() + d.tooLong.Load()
	return gateway.PollCounts{Polls: lines, PollFailures: failed, Requests: lines, RequestErrors: failed}
}

// Run opens the port, reads lines and emits their readings until ctx is
// cancelled, then returns nil. A port that cannot be opened, or that goes
// away, is retried with backoff; Run itself never gives up on it.
func (d *Driver) Run(ctx context.Context, emit func(gateway.Reading)) error {
	d.log.Info("serial line driver started", "format", d.cfg.Format, "baud", d.cfg.Baud)
	defer d.log.Info("serial line driver stopped")
	quiet := ""
	var wait time.Duration // before the next open: none at first
	for opened := false; ; opened = true {
		port, next, err := d.waitOpen(ctx, quiet, wait)
		if err != nil {
			return nil // ctx was cancelled
		}
		if opened {
			d.reopens.Add(1)
			d.log.Info("port back")
		} else {
			d.log.Info("port open")
		}
		start := time.Now()
		err = d.readPort(ctx, port, emit)
		if ctx.Err() != nil {
			return nil
		}
		d.log.Warn("port gone, waiting for it to return", "err", err)
		quiet = "missing"
		// A port that opens and fails at once (a dying adapter) keeps
		// backing off instead of spinning; one that worked for a while
		// is looked for again at once.
		wait = 0
		if time.Since(start) < d.cfg.ReopenMax {
			wait = next
		}
	}
}

// readPort reads port until it fails or ctx is cancelled, and closes it.
func (d *Driver) readPort(ctx context.Context, port serial.Port, emit func(gateway.Reading)) error {
	d.mu.Lock()
	d.port = port
	d.mu.Unlock()
	d.connected.Store(true)
	// Closing the port is the one way to end a blocking Read.
	stop := context.AfterFunc(ctx, func() {
		_ = port.Close() // only to unblock Read; the deferred Close reports nothing either
	})
	defer func() {
		stop()
		d.connected.Store(false)
		d.mu.Lock()
		d.port = nil
		d.mu.Unlock()
		_ = port.Close() // the port is gone or we are stopping: nothing to do about a close error
	}()

	buf := make([]byte, 4096)
	var now time.Time
	line := func(b []byte) { d.handleLine(b, now, emit) }
	tooLong := func() {
		d.tooLong.Add(1)
		d.tooLongLog.fault(now, "max_line_length", d.cfg.MaxLineLength)
	}
	for {
		n, err := port.Read(buf)
		if n > 0 {
			now = d.now()
			d.split.feed(buf[:n], line, tooLong)
		}
		if err != nil {
			// A fragment left when we stop is no fault of the device.
			if d.split.reset() && ctx.Err() == nil {
				d.partial.Add(1)
				d.partialLog.fault(d.now(), "reason", "port closed mid-line")
			}
			return fmt.Errorf("read serial port %s: %w", d.cfg.Port, err)
		}
	}
}

// handleLine parses one line received at t and emits its readings.
func (d *Driver) handleLine(b []byte, t time.Time, emit func(gateway.Reading)) {
	if len(bytes.TrimSpace(b)) == 0 {
		return // blank lines carry nothing and are no fault
	}
	f, err := d.parser.Parse(string(b))
	if err != nil {
		d.garbage.Add(1)
		d.garbageLog.fault(t, "err", err, "line", clip(string(b)))
		return
	}
	d.linesOK.Add(1)
	d.garbageLog.ok()
	d.tooLongLog.ok()
	d.partialLog.ok()
	d.log.Debug("line", "fields", len(f))

	bad := false
	send := func(r gateway.Reading) {
		if r.Quality == gateway.QualityBad {
			bad = true
			d.badValues.Add(1)
			d.badLog.fault(t, "point", r.Point, "err", r.Err)
		}
		emit(r)
	}
	if len(d.points) == 0 {
		for _, name := range slices.Sorted(maps.Keys(f)) {
			p := point{name: name, field: name, convert: func(v gateway.Value) (gateway.Value, error) { return v, nil }}
			r, _ := p.reading(d.cfg.Device, f, t, false) // the field is present
			send(r)
		}
	} else {
		for i := range d.points {
			if r, ok := d.points[i].reading(d.cfg.Device, f, t, d.missing); ok {
				send(r)
			}
		}
	}
	if !bad {
		d.badLog.ok()
	}
}
