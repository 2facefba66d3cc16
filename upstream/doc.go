// Package upstream is the bridge to the upstream (cloud) broker: a forwarder
// that drains the durable store-and-forward queue to the upstream broker in
// order, with a window of in-flight publishes, removing a message from the
// queue only once the upstream acknowledged it (PUBACK, [MQTT-4.3.2]); and
// subscriptions whose messages (cloud commands) are delivered to a local sink.
//
// It is built on github.com/eclipse/paho.mqtt.golang with a clean session and
// paho's in-memory store: durability comes from the queue, never from paho.
// After a lost connection everything unacknowledged is sent again
// (at-least-once; duplicates are limited to the in-flight window).
//
// Filter wraps the queue as a gateway.Sink that accepts only messages matching
// a forward rule, with the rule's QoS. The queue keeps local topics (so
// `gateway buffer list` and the drop counters speak the gateway's own topic
// names); the forwarder maps them to remote topics as it publishes.
package upstream
