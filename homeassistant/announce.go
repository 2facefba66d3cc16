package homeassistant

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"

	"github.com/edgegw/gateway"
)

// StatusTopic is where Home Assistant publishes its birth ("online") and
// last will ("offline") under the discovery prefix.
func StatusTopic(prefix string) string {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return prefix + "/status"
}

// IsOnline reports whether a message on StatusTopic says Home Assistant has
// (re)started: then every config is to be published again.
func IsOnline(payload []byte) bool { return string(bytes.TrimSpace(payload)) == Online }

// Announcer publishes a set of entities' config messages to one sink (the
// local broker, or the upstream buffer) and keeps them current. Its methods
// are safe for concurrent use; they publish one set at a time.
type Announcer struct {
	sink gateway.Sink

	mu  sync.Mutex
	cur []Entity
}

// NewAnnouncer returns an Announcer publishing to sink.
func NewAnnouncer(sink gateway.Sink) *Announcer { return &Announcer{sink: sink} }

// Set makes es the announced set: an empty retained config for every
// entity of the previous set that es lacks (Home Assistant removes it),
// then every config of es. It returns the errors of the publishes that
// failed, joined; the set is es either way.
func (a *Announcer) Set(ctx context.Context, es []Entity) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	var errs []error
	for _, m := range Removed(a.cur, es) {
		errs = append(errs, a.sink.Publish(ctx, m))
	}
	a.cur = es
	errs = append(errs, a.publish(ctx))
	return errors.Join(errs...)
}

// Republish publishes the current set again.
func (a *Announcer) Republish(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.publish(ctx)
}

// Entities returns the current set.
func (a *Announcer) Entities() []Entity {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cur
}

func (a *Announcer) publish(ctx context.Context) error {
	var errs []error
	for _, e := range a.cur {
		if err := a.sink.Publish(ctx, e.Message()); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Owned reports whether a config message (a retained one found on the
// broker, perhaps from an earlier config) was announced by the gateway
// named gateway: its device is the gateway's own entry or one linked to it
// by via_device.
func Owned(payload []byte, gateway string) bool {
	var c struct {
		Device struct {
			Identifiers []string `json:"identifiers"`
			ViaDevice   string   `json:"via_device"`
		} `json:"device"`
	}
	if json.Unmarshal(payload, &c) != nil {
		return false
	}
	id := ID(gateway)
	return c.Device.ViaDevice == id || slices.Contains(c.Device.Identifiers, id)
}

// Has reports whether the announced set has a config at topic.
func (a *Announcer) Has(topic string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.ContainsFunc(a.cur, func(e Entity) bool { return e.Topic == topic })
}

// Clear publishes an empty retained config at topic (one not in the set).
func (a *Announcer) Clear(ctx context.Context, topic string) error {
	return a.sink.Publish(ctx, gateway.Message{Topic: topic, QoS: 1, Retain: true})
}
