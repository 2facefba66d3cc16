package buffer

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"
)

// ErrUsage is returned by Main for a bad command line (after printing usage).
var ErrUsage = errors.New("usage")

const usage = `usage: gateway buffer [--db PATH] COMMAND
  stats  [--json]                                    depth, bytes, oldest, drops, uplink
  list   [--topic FILTER] [--since T] [--limit N] [--json]
                                                     queued messages, oldest first
  export --format jsonl|csv [--out FILE] [--topic FILTER] [--since T]
T is an RFC 3339 time or a duration before now (e.g. 10m).
`

// Main runs `gateway buffer ...` with args after "buffer". The wiring passes
// the configured path first (--db PATH); a later --db overrides it.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("buffer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	db := fs.String("db", "", "buffer database `PATH`")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("buffer: %w", ErrUsage)
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fs.Usage()
		return fmt.Errorf("buffer: no command: %w", ErrUsage)
	}
	cmd, rest := rest[0], rest[1:]
	// Flags may also follow the command: gateway buffer stats --db x.
	sub := flag.NewFlagSet("buffer "+cmd, flag.ContinueOnError)
	sub.SetOutput(stderr)
	sub.Usage = fs.Usage
	sub.StringVar(db, "db", *db, "buffer database `PATH`")
	asJSON := sub.Bool("json", false, "print JSON")
	topic := sub.String("topic", "", "MQTT topic `FILTER`")
	since := sub.String("since", "", "accepted at or after `T`")
	limit := sub.Int("limit", 0, "at most `N` messages (list: default 100)")
	format := sub.String("format", "", "export format: jsonl or csv")
	out := sub.String("out", "", "export to `FILE` (default stdout)")
	if err := sub.Parse(rest); err != nil {
		return fmt.Errorf("buffer %s: %w", cmd, ErrUsage)
	}
	if sub.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("buffer %s: unexpected %q: %w", cmd, sub.Arg(0), ErrUsage)
	}
	if *db == "" {
		return fmt.Errorf("buffer %s: no database: set [buffer] path or --db: %w", cmd, ErrUsage)
	}
	var f Filter
	f.Topic, f.Limit = *topic, *limit
	if *since != "" {
		t, err := parseSince(*since, time.Now())
		if err != nil {
			return fmt.Errorf("buffer %s: --since: %w", cmd, err)
		}
		f.Since = t
	}
	if _, err := os.Stat(*db); err != nil {
		return fmt.Errorf("buffer %s: %w", cmd, err)
	}
	r, err := OpenReader(ctx, *db)
	if err != nil {
		return fmt.Errorf("buffer %s: %w", cmd, err)
	}
	defer r.Close()
	switch cmd {
	case "stats":
		return runStats(ctx, r, *asJSON, stdout)
	case "list":
		if f.Limit == 0 {
			f.Limit = 100
		}
		return runList(ctx, r, f, *asJSON, stdout)
	case "export":
		return runExport(ctx, r, f, *format, *out, stdout, stderr)
	default:
		fs.Usage()
		return fmt.Errorf("buffer: unknown command %q: %w", cmd, ErrUsage)
	}
}

// parseSince accepts an RFC 3339 time or a duration before now.
func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: want an RFC 3339 time or a duration", s)
	}
	return t, nil
}

func runStats(ctx context.Context, r *Reader, asJSON bool, w io.Writer) error {
	s, err := r.Stats(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(s)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "depth\t%d messages\n", s.Depth)
	fmt.Fprintf(tw, "bytes\t%d\n", s.Bytes)
	if s.Oldest.IsZero() {
		fmt.Fprintf(tw, "oldest\t-\n")
	} else {
		fmt.Fprintf(tw, "oldest\t%s (%s ago)\n", s.Oldest.UTC().Format(time.RFC3339), time.Duration(s.OldestAge).Round(time.Second))
	}
	fmt.Fprintf(tw, "drops\t%d\n", s.Drops)
	prefixes := make([]string, 0, len(s.DropsByPrefix))
	for p := range s.DropsByPrefix {
		prefixes = append(prefixes, p)
	}
	sort.Strings(prefixes)
	for _, p := range prefixes {
		fmt.Fprintf(tw, "  %s\t%d\n", p, s.DropsByPrefix[p])
	}
	if s.LastAck.IsZero() {
		fmt.Fprintf(tw, "last upstream ack\tnever\n")
	} else {
		fmt.Fprintf(tw, "last upstream ack\t%s\n", s.LastAck.UTC().Format(time.RFC3339))
	}
	uplink := s.Uplink
	if uplink == "" {
		uplink = "unknown (no forwarder has run)"
	}
	if !s.UplinkSince.IsZero() {
		uplink += " since " + s.UplinkSince.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(tw, "uplink\t%s\n", uplink)
	if s.UplinkProtocol != "" {
		fmt.Fprintf(tw, "uplink protocol\tMQTT %s\n", s.UplinkProtocol)
	}
	if s.LastRefusal != "" {
		fmt.Fprintf(tw, "last refused\t%s\n", s.LastRefusal)
	}
	if s.UplinkError != "" {
		fmt.Fprintf(tw, "uplink error\t%s\n", s.UplinkError)
	}
	if !s.NextAttempt.IsZero() {
		fmt.Fprintf(tw, "next attempt\t%s\n", s.NextAttempt.UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}

func runList(ctx context.Context, r *Reader, f Filter, asJSON bool, w io.Writer) error {
	if asJSON {
		enc := json.NewEncoder(w)
		return r.each(ctx, f, func(e Entry) error { return enc.Encode(toJSON(e)) })
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tACCEPTED\tQOS\tTOPIC\tPAYLOAD")
	err := r.each(ctx, f, func(e Entry) error {
		_, err := fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\n", e.ID, e.Accepted.UTC().Format(time.RFC3339Nano), e.QoS, e.Topic, preview(e.Payload))
		return err
	})
	if err != nil {
		return err
	}
	return tw.Flush()
}

// preview shortens a payload for the list table.
func preview(p []byte) string {
	if !utf8.Valid(p) {
		return fmt.Sprintf("<%d bytes binary>", len(p))
	}
	s := strings.ReplaceAll(string(p), "\n", " ")
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}

func runExport(ctx context.Context, r *Reader, f Filter, format, out string, stdout, stderr io.Writer) error {
	if format != FormatJSONL && format != FormatCSV {
		return fmt.Errorf("buffer export: --format %q: want jsonl or csv: %w", format, ErrUsage)
	}
	w := stdout
	if out != "" {
		fh, err := os.Create(out)
		if err != nil {
			return fmt.Errorf("buffer export: %w", err)
		}
		defer fh.Close() // closed explicitly below on success
		w = fh
	}
	var progress func(done, total int64)
	if isTerminal(stderr) {
		progress = func(done, total int64) {
			fmt.Fprintf(stderr, "\rexported %d of %d", done, total)
		}
	}
	if err := r.Export(ctx, w, format, f, progress); err != nil {
		return err
	}
	if progress != nil {
		fmt.Fprintln(stderr)
	}
	if fh, ok := w.(*os.File); ok && out != "" {
		if err := fh.Close(); err != nil {
			return fmt.Errorf("buffer export: %w", err)
		}
	}
	return nil
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
