package web

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"
)

// heartbeat keeps idle event streams (and proxies in between) alive.
const heartbeat = 30 * time.Second

// handleEvents streams Server-Sent Events (HTML Living Standard, section
// 9.2 "Server-sent events"):
//
//	event: values  data: every last value (once, on connect)
//	event: value   data: one PointValue that changed
//	event: status  data: a Status (on connect, then the one each sample took)
//
// Changes are coalesced: a slow client gets the latest value of each point,
// not every intermediate one.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	sub := s.hub.subscribe()
	defer s.hub.unsubscribe(sub)

	ctx := r.Context()
	if _, err := io.WriteString(w, "retry: 3000\n\n"); err != nil {
		return
	}
	if s.send(w, "values", s.values.list()) != nil || s.send(w, "status", s.status(ctx)) != nil || rc.Flush() != nil {
		return
	}
	ping := time.NewTicker(heartbeat)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ping.C:
			if _, err := io.WriteString(w, ": ping\n\n"); err != nil {
				return
			}
		case <-sub.wake:
			keys, status := sub.drain()
			slices.Sort(keys)
			for _, k := range keys {
				if pv, ok := s.values.get(k); ok {
					if s.send(w, "value", pv) != nil {
						return
					}
				}
			}
			if status {
				st := s.lastStatus.Load()
				if st == nil {
					fresh := s.status(ctx)
					st = &fresh
				}
				if s.send(w, "status", st) != nil {
					return
				}
			}
		}
		if rc.Flush() != nil {
			return
		}
	}
}

// send writes one event; JSON never contains a newline here, so one data
// line carries it.
func (s *Server) send(w io.Writer, event string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("event %s: %w", event, err)
	}
	_, err = fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b)
	return err
}
