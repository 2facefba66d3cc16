// Package upstream is the bridge to the upstream (cloud) broker: a forwarder
// that drains the durable store-and-forward queue to the upstream broker in
// order, with a window of in-flight publishes, removing a message from the
// queue only once the upstream acknowledged it (PUBACK, [MQTT-4.3.2]); and
// subscriptions whose messages (cloud commands) are delivered to a local sink.
//
// It speaks MQTT 3.1.1 or MQTT 5.0 ([upstream] protocol_version) through its
// own small client, package upstream/mqttc, built on the encoder and decoder
// of broker/packet. The queue is the one source of truth for what still has
// to go up: the client keeps no session state of its own, and after a lost
// connection everything unacknowledged is sent again (at-least-once;
// duplicates are limited to the in-flight window).
//
// Why our own client: the forwarder used github.com/eclipse/paho.mqtt.golang
// (3.1.1 only), which hands every publish through a token and goroutines; its
// drain on loopback reached 0.68x of mosquitto's own bridge. The MQTT 5.0
// client of the same project, github.com/eclipse/paho.golang, has a Publish
// that blocks until the message is acknowledged and allocates the packet ids
// itself, so a window needs a goroutine per in-flight message and the ids of
// a persistent session are out of our hands. mqttc instead writes publishes
// into one buffer that is written out when the window is full or the queue
// has nothing more right now, hands back the acknowledgements in publish
// order (the forwarder acks the queue in the same order), bounds the window
// by the server's Receive Maximum, and serves both protocol versions with
// one code path.
//
// With MQTT 5.0: subscribe rules use No Local (a filter overlapping a forward
// rule gets no echo of our own messages) and Retain As Published; forwarded
// messages carry a Message Expiry Interval counted from the reading's own
// time (an expired message is removed from the queue unsent and counted) and
// user properties with the reading's timestamp; the command session lives
// for session_expiry after a connection ends. A publish the server refuses
// (PUBACK or PUBREC reason code 0x80 or above) is logged once per code,
// counted and shown on the status page; see keptRefusals for which refusals
// keep the message in the queue. A message larger than the server's Maximum
// Packet Size can never be delivered to it: it is removed from the queue and
// counted as refused (code 0x95) rather than holding up the queue for ever.
// Remote topics go as Topic Aliases (TopicAliases, up to the server's Topic
// Alias Maximum): in full once per connection, then as a 2-byte alias.
//
// Filter wraps the queue as a gateway.Sink that accepts only messages matching
// a forward rule, with the rule's QoS. The queue keeps local topics (so
// `gateway buffer list` and the drop counters speak the gateway's own topic
// names); the forwarder maps them to remote topics as it publishes.
package upstream
