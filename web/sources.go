package web

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"time"
	"unicode/utf8"

	"github.com/edgegw/gateway"
)

// Sources are the functions the server reads its data from. Any of them may
// be nil when that component is not running; the page and API then leave
// that part out (the buffer endpoints answer 404).
//
// Every function may be called concurrently from several requests, the
// sampler and metric scrapes, and must not block for long; cancelling ctx
// abandons a buffer query.
type Sources struct {
	Devices      func() []DeviceStatus                                                      // the pipeline's devices
	Broker       func() BrokerStats                                                         // the local broker's counters
	Uplink       func() UplinkStatus                                                        // the upstream forwarder
	Buffer       func(ctx context.Context) (BufferStats, error)                             // the store-and-forward buffer
	BufferList   func(ctx context.Context, q BufferQuery) ([]BufferedMessage, error)        // queued messages, oldest first
	BufferExport func(ctx context.Context, w io.Writer, format string, q BufferQuery) error // format: "jsonl" or "csv"
}

// DeviceStatus is one device as the pipeline's supervisor sees it.
type DeviceStatus struct {
	Name      string    `json:"name"`
	State     string    `json:"state"` // starting, ok, failing or stopped
	LastError string    `json:"last_error,omitempty"`
	Since     time.Time `json:"since,omitzero"`   // when State was entered
	LastOK    time.Time `json:"last_ok,omitzero"` // last successful poll
	Polls     uint64    `json:"polls"`            // poll cycles (lines for a serial line device)
	Failures  uint64    `json:"failures"`         // poll cycles that failed
	Readings  uint64    `json:"readings"`
	Requests  uint64    `json:"requests"`       // requests sent to the device
	ReqErrors uint64    `json:"request_errors"` // requests that failed

	// Rates over the last sample interval, filled in by the server.
	PollsPerSecond    float64 `json:"polls_per_second"`
	RequestsPerSecond float64 `json:"requests_per_second"`
	ErrorsPerSecond   float64 `json:"errors_per_second"` // failed requests
}

// BrokerStats are the local broker's counters. Its fields match the
// broker's Stats so that one converts to the other.
type BrokerStats struct {
	ClientsConnected int64         `json:"clients_connected"`
	ClientsMQTT5     int64         `json:"clients_mqtt5"`   // of which MQTT 5.0
	ClientsMQTT311   int64         `json:"clients_mqtt311"` // of which MQTT 3.1.1
	ClientsMQTT31    int64         `json:"clients_mqtt31"`  // of which MQTT 3.1
	ConnectionsTotal uint64        `json:"connections_total"`
	Sessions         int           `json:"sessions"`
	Subscriptions    int           `json:"subscriptions"`
	Retained         int           `json:"retained"`
	MessagesReceived uint64        `json:"messages_received"`
	MessagesSent     uint64        `json:"messages_sent"`
	BytesReceived    uint64        `json:"bytes_received"`
	BytesSent        uint64        `json:"bytes_sent"`
	Dropped          uint64        `json:"dropped"`
	Denied           uint64        `json:"denied"`
	NotStored        uint64        `json:"not_stored"`
	Uptime           time.Duration `json:"uptime_ns"`
	Stalled          uint64        `json:"stalled"`
	MemoryBytes      int64         `json:"memory_bytes"`
	MemoryDropped    uint64        `json:"memory_dropped"`
	TooLarge         uint64        `json:"too_large"` // not sent: over an MQTT 5.0 client's Maximum Packet Size
	Expired          uint64        `json:"expired"`   // not sent: MQTT 5.0 Message Expiry Interval passed while queued
	// DeliveriesDenied counts messages held back from a subscriber by its
	// read access (the ACL is checked at each delivery); Denied counts
	// publishes refused by write access.
	DeliveriesDenied uint64 `json:"deliveries_denied"`
}

// UplinkStatus is the upstream forwarder's state. Its fields match the
// forwarder's Status so that one converts to the other.
type UplinkStatus struct {
	State       string    `json:"state"` // up, down, or "" before the first attempt
	LastErr     string    `json:"last_error,omitempty"`
	NextAttempt time.Time `json:"next_attempt,omitzero"` // while down: the next connection attempt
	Sent        int64     `json:"sent"`
	Acked       int64     `json:"acked"`   // delivered
	Dropped     int64     `json:"dropped"` // taken from the buffer and not delivered: expired, too large, refused for good
	Received    int64     `json:"received"`

	Protocol       string `json:"protocol"`                   // "3.1.1" or "5.0"
	Refused        int64  `json:"refused"`                    // publishes refused with an MQTT 5.0 reason code
	Expired        int64  `json:"expired"`                    // queued messages dropped unsent: message_expiry passed
	LastReasonCode byte   `json:"last_reason_code,omitempty"` // of the last refused PUBLISH or CONNACK
	LastReason     string `json:"last_reason,omitempty"`      // e.g. "PUBACK 0x97 Quota exceeded"
}

// BufferStats describe the store-and-forward queue.
type BufferStats struct {
	Depth          int64         `json:"depth"`     // messages waiting
	Bytes          int64         `json:"bytes"`     // their size
	MaxBytes       int64         `json:"max_bytes"` // the cap; 0: none
	Oldest         time.Time     `json:"oldest,omitzero"`
	OldestAge      time.Duration `json:"-"`
	Drops          int64         `json:"drops"` // dropped by the caps, ever
	DiskFullErrors int64         `json:"disk_full_errors"`
	LastAck        time.Time     `json:"last_ack,omitzero"`
}

// MarshalJSON adds the oldest age in seconds.
func (s BufferStats) MarshalJSON() ([]byte, error) {
	type plain BufferStats
	return json.Marshal(struct {
		plain
		OldestAgeSeconds float64 `json:"oldest_age_seconds"`
	}{plain(s), s.OldestAge.Seconds()})
}

// BufferQuery selects buffered messages. Its fields match the buffer's
// Filter so that one converts to the other.
type BufferQuery struct {
	Topic string    // MQTT topic filter; empty: all
	Since time.Time // accepted at or after; zero: all
	Limit int       // at most this many; 0: no limit
}

// BufferedMessage is one queued message. Its fields match the buffer's
// Entry so that one converts to the other.
type BufferedMessage struct {
	ID       int64
	Accepted time.Time
	gateway.Message
}

// MarshalJSON encodes m the way `gateway buffer list --json` does: the
// payload as text when it is valid UTF-8, else in base64.
func (m BufferedMessage) MarshalJSON() ([]byte, error) {
	j := struct {
		ID         int64     `json:"id"`
		Accepted   time.Time `json:"accepted"`
		Time       time.Time `json:"time,omitzero"`
		Topic      string    `json:"topic"`
		QoS        byte      `json:"qos"`
		Retain     bool      `json:"retain,omitempty"`
		Payload    string    `json:"payload,omitempty"`
		PayloadB64 string    `json:"payload_base64,omitempty"`
	}{ID: m.ID, Accepted: m.Accepted.UTC(), Time: m.Time.UTC(), Topic: m.Topic, QoS: m.QoS, Retain: m.Retain}
	if utf8.Valid(m.Payload) {
		j.Payload = string(m.Payload)
	} else {
		j.PayloadB64 = base64.StdEncoding.EncodeToString(m.Payload)
	}
	return json.Marshal(j)
}
