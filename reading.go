package gateway

import (
	"strconv"
	"time"
)

// Quality says how far a reading can be trusted. It travels with every value
// so that a bad or missing reading is published as such, never as a fake value.
type Quality uint8

// The qualities of a reading, in the OPC UA sense of good / uncertain / bad.
const (
	QualityGood      Quality = iota // read from the device just now
	QualityUncertain                // read, but e.g. out of the configured range
	QualityBad                      // the read failed; Value is None
	QualityStale                    // no fresh value: the device has not answered for a while
)

var qualityNames = [...]string{"good", "uncertain", "bad", "stale"}

func (q Quality) String() string {
	if int(q) < len(qualityNames) {
		return qualityNames[q]
	}
	return "quality(" + strconv.Itoa(int(q)) + ")"
}

// MarshalText encodes q by name.
func (q Quality) MarshalText() ([]byte, error) { return []byte(q.String()), nil }

// Reading is one value of one device point at one instant, as a driver
// produced it. Drivers fill Device, Point, Value, Quality and Time; Unit is
// the point's configured unit; Err says why Quality is not good.
type Reading struct {
	Device  string
	Point   string
	Value   Value
	Unit    string
	Quality Quality
	Time    time.Time // when the value was read (the device's clock if it has one)
	Err     error     // non-nil with QualityBad: why the read failed
	// ClockUnsynced: the system clock was not yet synchronised (NTP) when
	// the reading was taken, so Time may be off by days on a Pi without a
	// real-time clock. JSON payloads carry "clock":"unsynced".
	ClockUnsynced bool
}

// Message is an MQTT application message bound for a topic: what the mapping
// makes of a reading and what sinks (the local broker, the upstream buffer)
// accept.
type Message struct {
	Topic   string
	Payload []byte
	QoS     byte // 0, 1 or 2
	Retain  bool
	Time    time.Time // when the message was created (the reading's time)
}
