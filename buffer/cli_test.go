package buffer

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgegw/gateway"
)

// TestInspectRunning: the inspection commands work against the database a
// running buffer holds open (test 8), while it keeps committing.
func TestInspectRunning(t *testing.T) {
	path := filepath.Join(t.TempDir(), "buffer.db")
	b := open(t, Default(path))
	if err := b.SetUplink(UplinkDown, "connect: connection refused"); err != nil {
		t.Fatal(err)
	}
	if err := b.SetUplinkDetail("5.0", "CONNACK 0x87 Not authorized"); err != nil {
		t.Fatal(err)
	}
	var msgs []gateway.Message
	for i := range 100 {
		topic := fmt.Sprintf("site/dev%d/temp", i%4)
		payload := []byte(fmt.Sprint(i))
		if i == 99 {
			payload = []byte{0xff, 0x00} // binary
		}
		msgs = append(msgs, gateway.Message{Topic: topic, Payload: payload, QoS: 1, Time: time.Unix(1700000000, 0)})
	}
	publishAll(t, b, msgs)

	// A writer keeps committing while the commands run.
	stop := make(chan struct{})
	writing := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				writing <- nil
				return
			default:
			}
			if err := b.Publish(t.Context(), gateway.Message{Topic: "other/x", Payload: []byte("w")}); err != nil {
				writing <- err
				return
			}
		}
	}()
	defer func() {
		close(stop)
		if err := <-writing; err != nil {
			t.Errorf("concurrent Publish: %v", err)
		}
	}()

	run := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if err := Main(t.Context(), append([]string{"--db", path}, args...), &out, &errOut); err != nil {
			t.Fatalf("buffer %v: %v\n%s", args, err, errOut.String())
		}
		return out.String()
	}

	stats := run("stats", "--json")
	var s struct {
		Depth       int64  `json:"depth"`
		Uplink      string `json:"uplink"`
		UplinkError string `json:"uplink_error"`
		Protocol    string `json:"uplink_protocol"`
		LastRefusal string `json:"last_refusal"`
	}
	if err := json.Unmarshal([]byte(stats), &s); err != nil {
		t.Fatalf("stats --json: %v\n%s", err, stats)
	}
	if s.Depth < 100 || s.Uplink != "down" || s.UplinkError != "connect: connection refused" ||
		s.Protocol != "5.0" || s.LastRefusal != "CONNACK 0x87 Not authorized" {
		t.Errorf("stats: got %+v, want depth >= 100, down, connection refused, 5.0, CONNACK 0x87", s)
	}
	text := run("stats")
	words := strings.Join(strings.Fields(text), " ") // the columns' padding aside
	for _, want := range []string{"uplink error connect: connection refused", "uplink protocol MQTT 5.0", "last refused CONNACK 0x87 Not authorized"} {
		if !strings.Contains(words, want) {
			t.Errorf("stats text lacks %q:\n%s", want, text)
		}
	}

	list := run("list", "--topic", "site/+/temp", "--limit", "10", "--json")
	lines := strings.Split(strings.TrimSpace(list), "\n")
	if len(lines) != 10 {
		t.Fatalf("list --limit 10: got %d lines:\n%s", len(lines), list)
	}
	var e jsonEntry
	if err := json.Unmarshal([]byte(lines[0]), &e); err != nil || !strings.HasPrefix(e.Topic, "site/") || e.Payload == "" {
		t.Errorf("list first entry: got %+v, %v", e, err)
	}
	if text := run("list", "--topic", "site/dev3/#", "--since", "1h"); strings.Count(text, "site/dev3/temp") != 25 {
		t.Errorf("list site/dev3/#: want 25 rows:\n%s", text)
	}
	if text := run("list", "--since", time.Now().Add(time.Hour).Format(time.RFC3339)); strings.Count(text, "\n") != 1 {
		t.Errorf("list --since the future: want only the header:\n%s", text)
	}

	out := filepath.Join(t.TempDir(), "export.csv")
	run("export", "--format", "csv", "--topic", "site/#", "--out", out)
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	b64 := 0
	for _, r := range recs {
		if r[7] == "/wA=" && r[6] == "" {
			b64++
		}
	}
	if len(recs) != 101 || recs[0][3] != "topic" || b64 != 1 {
		t.Errorf("csv export: got %d records, %d base64 payloads; want 101 and 1", len(recs), b64)
	}
	jl := run("export", "--format", "jsonl", "--topic", "site/dev0/temp")
	if n := strings.Count(jl, "\n"); n != 25 {
		t.Errorf("jsonl export: got %d lines, want 25", n)
	}
}

func TestMainUsage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "buffer.db")
	b := open(t, Default(path))
	_ = b
	tests := [][]string{
		{},
		{"--db", path},
		{"--db", path, "frobnicate"},
		{"--db", path, "export", "--format", "xml"},
		{"--db", path, "list", "--since", "yesterday"},
		{"stats"},
	}
	for _, args := range tests {
		var out, errOut bytes.Buffer
		err := Main(t.Context(), args, &out, &errOut)
		if err == nil {
			t.Errorf("Main(%q): got nil, want an error", args)
		} else if !errors.Is(err, ErrUsage) && !strings.Contains(err.Error(), "--since") {
			t.Errorf("Main(%q): got %v, want a usage error", args, err)
		}
	}
	var out bytes.Buffer
	if err := Main(t.Context(), []string{"stats", "--db", filepath.Join(t.TempDir(), "missing.db")}, &out, &out); err == nil {
		t.Error("stats on a missing file: got nil, want an error")
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
	}{
		{"10m", now.Add(-10 * time.Minute)},
		{"2026-01-01T00:00:00Z", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		got, err := parseSince(tt.in, now)
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := Default("/x/buffer.db").Validate(); err != nil {
		t.Errorf("default: %v", err)
	}
	err := Config{MaxBytes: -1, MaxAge: -1, FlushInterval: -1, BatchSize: -1}.Validate()
	for _, want := range []string{"path", "max_bytes", "max_age", "flush_interval", "batch_size"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: got %v, want a problem with %s", err, want)
		}
	}
}

// stallWriter accepts the first write, reports it, then blocks until
// released: a reader that stopped reading (a pager, a stalled download).
type stallWriter struct {
	first   chan struct{}
	release chan struct{}
	once    sync.Once
}

func (w *stallWriter) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.first) })
	<-w.release
	return len(p), nil
}

// TestStalledExportDoesNotPinWAL: an export whose reader stops does not hold
// a read transaction open, so the gateway's checkpoints keep working while
// messages keep coming (one long read kept the WAL growing to 44 MB).
func TestStalledExportDoesNotPinWAL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "buffer.db")
	b := open(t, Default(path))
	for i := range 3 * exportPage {
		if err := b.Enqueue(msg("a/b", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Publish(t.Context(), msg("a/b", -1)); err != nil { // all committed
		t.Fatal(err)
	}
	r, err := OpenReader(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	w := &stallWriter{first: make(chan struct{}), release: make(chan struct{})}
	exported := make(chan error, 1)
	go func() { exported <- r.Export(t.Context(), w, FormatJSONL, Filter{}, nil) }()
	defer func() {
		close(w.release)
		if err := <-exported; err != nil {
			t.Errorf("Export: %v", err)
		}
	}()
	<-w.first
	// While the export is stalled, more messages are committed.
	for i := range 200 {
		if err := b.Publish(t.Context(), msg("c/d", i)); err != nil {
			t.Fatal(err)
		}
	}
	var busy, logFrames, done int
	if err := b.wdb.QueryRowContext(t.Context(), `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &logFrames, &done); err != nil {
		t.Fatal(err)
	}
	if done != logFrames {
		t.Errorf("checkpoint during a stalled export: %d of %d WAL frames checkpointed, want all", done, logFrames)
	}
}
