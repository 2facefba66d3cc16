package web

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// Limits of /api/buffer/messages.
const (
	defaultListLimit = 100
	maxListLimit     = 1000
)

// Status is what /api/status returns and the event stream pushes.
type Status struct {
	Time        time.Time      `json:"time"`
	Uplink      *UplinkView    `json:"uplink"` // null: no upstream forwarder
	Buffer      *BufferStats   `json:"buffer"` // null: no buffer
	BufferError string         `json:"buffer_error,omitempty"`
	Broker      *BrokerView    `json:"broker"` // null: no broker
	Devices     []DeviceStatus `json:"devices"`
	Sample      *Sample        `json:"sample,omitempty"` // the latest history sample
}

// UplinkView is the uplink state with its outage history.
type UplinkView struct {
	UplinkStatus
	Since        time.Time `json:"since,omitzero"` // when State was entered (as sampled)
	Outages      []Outage  `json:"outages"`        // newest first
	OutagesTotal uint64    `json:"outages_total"`  // outages begun since start
}

// BrokerView is the broker's counters with the message rates of the last
// sample interval.
type BrokerView struct {
	BrokerStats
	ReceivedPerSecond float64 `json:"received_per_second"`
	SentPerSecond     float64 `json:"sent_per_second"`
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.handlePage)
	mux.HandleFunc("GET /api/status", s.handleStatus)
	mux.HandleFunc("GET /api/history", s.handleHistory)
	mux.HandleFunc("GET /api/devices", s.handleDevices)
	mux.HandleFunc("GET /api/values", s.handleValues)
	mux.HandleFunc("GET /api/buffer/stats", s.handleBufferStats)
	mux.HandleFunc("GET /api/buffer/messages", s.handleBufferMessages)
	mux.HandleFunc("GET /api/buffer/export", s.handleBufferExport)
	mux.HandleFunc("GET /api/events", s.handleEvents)
	mux.Handle("GET /metrics", s.metricsHandler())
	var h http.Handler = mux
	if s.cfg.NeedsAuth() {
		h = s.requireAuth(h)
	} else {
		h = s.checkHost(h) // no login: refuse DNS rebinding
	}
	return securityHeaders(h)
}

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

// status gathers the current status from the sources.
func (s *Server) status(ctx context.Context) Status {
	st := Status{Time: s.now().UTC(), Devices: []DeviceStatus{}}
	last, haveSample := s.hist.last()
	if haveSample {
		st.Sample = &last
	}
	if s.src.Uplink != nil {
		outages, total, since := s.hist.uplinkState()
		st.Uplink = &UplinkView{UplinkStatus: s.src.Uplink(), Since: since, Outages: outages, OutagesTotal: total}
	}
	if s.src.Buffer != nil {
		bctx, cancel := context.WithTimeout(ctx, sourceTimeout)
		b, err := s.src.Buffer(bctx)
		cancel()
		if err != nil {
			st.BufferError = err.Error()
		} else {
			st.Buffer = &b
		}
	}
	if s.src.Broker != nil {
		st.Broker = &BrokerView{BrokerStats: s.src.Broker(), ReceivedPerSecond: last.InRate, SentPerSecond: last.OutRate}
	}
	if s.src.Devices != nil {
		if d := s.src.Devices(); d != nil {
			st.Devices = s.hist.withRates(d)
		}
	}
	return st
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	s.writeJSON(w, s.status(r.Context()))
}

func (s *Server) handleHistory(w http.ResponseWriter, r *http.Request) {
	outages, total, _ := s.hist.uplinkState()
	s.writeJSON(w, struct {
		IntervalSeconds float64  `json:"interval_seconds"`
		Samples         []Sample `json:"samples"`
		Outages         []Outage `json:"outages"`
		OutagesTotal    uint64   `json:"outages_total"`
	}{s.cfg.SampleInterval.Seconds(), s.hist.list(), outages, total})
}

func (s *Server) handleDevices(w http.ResponseWriter, r *http.Request) {
	d := []DeviceStatus{}
	if s.src.Devices != nil {
		if got := s.src.Devices(); got != nil {
			d = s.hist.withRates(got)
		}
	}
	s.writeJSON(w, d)
}

func (s *Server) handleValues(w http.ResponseWriter, r *http.Request) {
	s.writeJSON(w, s.values.list())
}

func (s *Server) handleBufferStats(w http.ResponseWriter, r *http.Request) {
	if s.src.Buffer == nil {
		s.writeError(w, http.StatusNotFound, "no buffer is configured")
		return
	}
	b, err := s.src.Buffer(r.Context())
	if err != nil {
		s.log.Warn("web: buffer stats", "err", err)
		s.writeError(w, http.StatusInternalServerError, "buffer stats: "+err.Error())
		return
	}
	s.writeJSON(w, b)
}

// bufferQuery parses topic, since and limit; limit 0 means none.
func (s *Server) bufferQuery(r *http.Request, defLimit, maxLimit int) (BufferQuery, error) {
	v := r.URL.Query()
	q := BufferQuery{Topic: v.Get("topic"), Limit: defLimit}
	if since := v.Get("since"); since != "" {
		t, err := parseSince(since, s.now())
		if err != nil {
			return q, fmt.Errorf("since: %w", err)
		}
		q.Since = t
	}
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 {
			return q, fmt.Errorf("limit %q: want a positive integer", l)
		}
		q.Limit = n
	}
	if maxLimit > 0 && q.Limit > maxLimit {
		q.Limit = maxLimit
	}
	return q, nil
}

// parseSince accepts an RFC 3339 time or a duration before now, like
// `gateway buffer list --since`.
func parseSince(v string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(v); err == nil {
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: want an RFC 3339 time or a duration", v)
	}
	return t, nil
}

func (s *Server) handleBufferMessages(w http.ResponseWriter, r *http.Request) {
	if s.src.BufferList == nil {
		s.writeError(w, http.StatusNotFound, "no buffer is configured")
		return
	}
	q, err := s.bufferQuery(r, defaultListLimit, maxListLimit)
	if err != nil {
		s.writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	msgs, err := s.src.BufferList(r.Context(), q)
	if err != nil {
		s.log.Warn("web: buffer list", "err", err)
		s.writeError(w, http.StatusInternalServerError, "buffer list: "+err.Error())
		return
	}
	if msgs == nil {
		msgs = []BufferedMessage{}
	}
	s.writeJSON(w, msgs)
}

func (s *Server) handleBufferExport(w http.ResponseWriter, r *http.Request) {
	if s.src.BufferExport == nil {
		s.writeError(w, http.StatusNotFound, "no buffer is configured")
		return
	}
	format := r.URL.Query().Get("format")
	if format == "" {
		format = "jsonl"
	}
	var ctype string
	switch format {
	case "jsonl":
		ctype = "application/x-ndjson"
	case "csv":
		ctype = "text/csv; charset=utf-8"
	default:
		s.writeError(w, http.StatusBadRequest, fmt.Sprintf("format %q: want jsonl or csv", format))
		return
	}
	q, err := s.bufferQuery(r, 0, 0)
	if err != nil {
		s.writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Disposition",
		fmt.Sprintf(`attachment; filename="buffer-%s.%s"`, s.now().UTC().Format("20060102T150405Z"), format))
	dw := &deadlineWriter{w: w, rc: http.NewResponseController(w), timeout: exportWriteTimeout}
	if err := s.src.BufferExport(r.Context(), dw, format, q); err != nil {
		// The status line is gone once the body has started; the
		// truncated download and this log line are what is left.
		s.log.Warn("web: buffer export", "err", err)
	}
}

func (s *Server) writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		s.log.Debug("web: write response", "err", err)
	}
}

func (s *Server) writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	if err := json.NewEncoder(w).Encode(map[string]string{"error": msg}); err != nil {
		s.log.Debug("web: write response", "err", err)
	}
}

// exportWriteTimeout bounds each write of an export response: a client that
// stops reading (a stalled download) ends the export instead of holding it,
// and its goroutine, for ever.
var exportWriteTimeout = 30 * time.Second

// deadlineWriter sets a fresh write deadline before each write, so a slow but
// moving download may take as long as it needs while a stalled one fails.
type deadlineWriter struct {
	w       io.Writer
	rc      *http.ResponseController
	timeout time.Duration
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	// An error means the writer has no deadlines (a test recorder): write anyway.
	_ = d.rc.SetWriteDeadline(time.Now().Add(d.timeout))
	return d.w.Write(p)
}
