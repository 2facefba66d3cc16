package web

import "sync"

// hub fans value and status changes out to the event streams. A subscriber
// is never blocked on and never misses the latest state: changes are
// coalesced into a dirty set that the stream drains when it is ready.
type hub struct {
	mu   sync.Mutex
	subs map[*subscriber]struct{}
}

type subscriber struct {
	wake   chan struct{} // capacity 1: "something changed"
	mu     sync.Mutex
	keys   map[string]struct{} // values changed since the last drain
	status bool                // a new status sample since the last drain
}

func newHub() *hub { return &hub{subs: make(map[*subscriber]struct{})} }

func (h *hub) subscribe() *subscriber {
	s := &subscriber{wake: make(chan struct{}, 1), keys: make(map[string]struct{})}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	return s
}

func (h *hub) unsubscribe(s *subscriber) {
	h.mu.Lock()
	delete(h.subs, s)
	h.mu.Unlock()
}

// value marks key changed for every subscriber.
func (h *hub) value(key string) { h.each(func(s *subscriber) { s.keys[key] = struct{}{} }) }

// status marks a new status sample for every subscriber.
func (h *hub) status() { h.each(func(s *subscriber) { s.status = true }) }

func (h *hub) each(mark func(*subscriber)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		s.mu.Lock()
		mark(s)
		s.mu.Unlock()
		select {
		case s.wake <- struct{}{}:
		default: // already woken; the drain will see this change too
		}
	}
}

// drain returns and clears what changed.
func (s *subscriber) drain() (keys []string, status bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.keys {
		keys = append(keys, k)
	}
	clear(s.keys)
	status, s.status = s.status, false
	return keys, status
}
