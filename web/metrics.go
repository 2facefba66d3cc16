package web

import (
	"context"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("gateway_"+name, help, labels, nil)
}

// The metrics, read from the Sources at scrape time.
var (
	mUplinkUp      = desc("uplink_up", "1 when the upstream connection is up, 0 otherwise.")
	mUplinkSent    = desc("uplink_messages_sent_total", "Publishes sent upstream, resends included.")
	mUplinkAcked   = desc("uplink_messages_acked_total", "Buffered messages delivered: acknowledged by the upstream broker.")
	mUplinkDropped = desc("uplink_messages_dropped_total", "Buffered messages removed undelivered: expired, over the server's Maximum Packet Size, or refused for good.")
	mUplinkRecv    = desc("uplink_messages_received_total", "Messages from upstream subscriptions delivered locally.")
	mUplinkOutages = desc("uplink_outages_total", "Uplink outages seen since start.")
	mUplinkRefused = desc("uplink_messages_refused_total", "Publishes the upstream broker refused with an MQTT 5.0 reason code.")
	mUplinkExpired = desc("uplink_messages_expired_total", "Buffered messages not sent upstream because their message_expiry passed.")

	mBufDepth    = desc("buffer_messages", "Messages waiting in the store-and-forward buffer.")
	mBufBytes    = desc("buffer_bytes", "Bytes waiting in the store-and-forward buffer.")
	mBufMaxBytes = desc("buffer_max_bytes", "The buffer's size cap in bytes (0: none).")
	mBufAge      = desc("buffer_oldest_age_seconds", "Age of the oldest buffered message.")
	mBufDrops    = desc("buffer_dropped_messages_total", "Messages dropped by the buffer's caps.")
	mBufDiskFull = desc("buffer_disk_full_errors_total", "Buffer commits refused for a full disk.")
	mBufUp       = desc("buffer_stats_up", "1 when the buffer's stats could be read.")

	mBrClients   = desc("broker_clients_connected", "MQTT clients connected to the local broker.")
	mBrClientsV  = desc("broker_clients_connected_by_version", "MQTT clients connected to the local broker by protocol version (5.0, 3.1.1 or 3.1).", "version")
	mBrTooLarge  = desc("broker_messages_too_large_total", "Messages not sent to an MQTT 5.0 client because they exceed its Maximum Packet Size.")
	mBrExpired   = desc("broker_messages_expired_total", "Queued messages not sent because their MQTT 5.0 Message Expiry Interval passed.")
	mBrConns     = desc("broker_connections_total", "Connections accepted by the local broker.")
	mBrSessions  = desc("broker_sessions", "Sessions, connected or persistent offline.")
	mBrSubs      = desc("broker_subscriptions", "Subscriptions, in-process ones included.")
	mBrRetained  = desc("broker_retained_messages", "Retained messages.")
	mBrMsgsIn    = desc("broker_messages_received_total", "Messages published into the local broker.")
	mBrMsgsOut   = desc("broker_messages_sent_total", "Messages delivered to subscribers.")
	mBrBytesIn   = desc("broker_bytes_received_total", "Bytes read from clients.")
	mBrBytesOut  = desc("broker_bytes_sent_total", "Bytes written to clients.")
	mBrDropped   = desc("broker_messages_dropped_total", "Messages dropped at a full session queue.")
	mBrDenied    = desc("broker_publishes_denied_total", "Publishes refused by the ACL (write access).")
	mBrDelDenied = desc("broker_deliveries_denied_total", "Messages held back from a subscriber because the ACL does not let its user read the topic (checked at each delivery; once per subscriber).")
	mBrNotStored = desc("broker_publishes_not_stored_total", "QoS 1/2 publishes not acknowledged because the broker's store failed to commit them.")
	mBrMemory    = desc("broker_memory_bytes", "Bytes of queued and retained messages (capped by [broker] max_memory).")
	mBrMemDrops  = desc("broker_memory_dropped_total", "Messages dropped at [broker] max_memory (also in broker_messages_dropped_total).")
	mBrStalled   = desc("broker_clients_stalled_total", "Connections closed because the client stopped reading or acknowledging for stall_timeout.")

	mDevUp       = desc("device_up", "1 when the device's last poll succeeded.", "device")
	mDevPolls    = desc("device_polls_total", "Polls or runs started.", "device")
	mDevFailures = desc("device_poll_failures_total", "Polls or runs that failed.", "device")
	mDevReqs     = desc("device_requests_total", "Requests sent to the device.", "device")
	mDevReqErrs  = desc("device_request_errors_total", "Requests to the device that failed.", "device")
	mDevReadings = desc("device_readings_total", "Readings emitted.", "device")
)

// collector reads the server's Sources at scrape time.
type collector struct{ s *Server }

var _ prometheus.Collector = collector{}

// Describe sends every metric's description.
func (collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		mUplinkUp, mUplinkSent, mUplinkAcked, mUplinkDropped, mUplinkRecv, mUplinkOutages, mUplinkRefused, mUplinkExpired,
		mBufDepth, mBufBytes, mBufMaxBytes, mBufAge, mBufDrops, mBufDiskFull, mBufUp,
		mBrClients, mBrClientsV, mBrTooLarge, mBrExpired, mBrConns, mBrSessions, mBrSubs, mBrRetained, mBrMsgsIn, mBrMsgsOut,
		mBrBytesIn, mBrBytesOut, mBrDropped, mBrDenied, mBrDelDenied, mBrNotStored, mBrStalled, mBrMemory, mBrMemDrops,
		mDevUp, mDevPolls, mDevFailures, mDevReqs, mDevReqErrs, mDevReadings,
	} {
		ch <- d
	}
}

// Collect reads the sources that are set.
func (c collector) Collect(ch chan<- prometheus.Metric) {
	src := c.s.src
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	if src.Uplink != nil {
		u := src.Uplink()
		gauge(mUplinkUp, b2f(u.State == "up"))
		counter(mUplinkSent, float64(u.Sent))
		counter(mUplinkAcked, float64(u.Acked))
		counter(mUplinkDropped, float64(u.Dropped))
		counter(mUplinkRecv, float64(u.Received))
		counter(mUplinkRefused, float64(u.Refused))
		counter(mUplinkExpired, float64(u.Expired))
		_, total, _ := c.s.hist.uplinkState()
		counter(mUplinkOutages, float64(total))
	}
	if src.Buffer != nil {
		ctx, cancel := context.WithTimeout(context.Background(), sourceTimeout)
		b, err := src.Buffer(ctx)
		cancel()
		gauge(mBufUp, b2f(err == nil))
		if err == nil {
			gauge(mBufDepth, float64(b.Depth))
			gauge(mBufBytes, float64(b.Bytes))
			gauge(mBufMaxBytes, float64(b.MaxBytes))
			gauge(mBufAge, b.OldestAge.Seconds())
			counter(mBufDrops, float64(b.Drops))
			counter(mBufDiskFull, float64(b.DiskFullErrors))
		}
	}
	if src.Broker != nil {
		b := src.Broker()
		gauge(mBrClients, float64(b.ClientsConnected))
		gauge(mBrClientsV, float64(b.ClientsMQTT5), "5.0")
		gauge(mBrClientsV, float64(b.ClientsMQTT311), "3.1.1")
		gauge(mBrClientsV, float64(b.ClientsMQTT31), "3.1")
		counter(mBrTooLarge, float64(b.TooLarge))
		counter(mBrExpired, float64(b.Expired))
		counter(mBrConns, float64(b.ConnectionsTotal))
		gauge(mBrSessions, float64(b.Sessions))
		gauge(mBrSubs, float64(b.Subscriptions))
		gauge(mBrRetained, float64(b.Retained))
		counter(mBrMsgsIn, float64(b.MessagesReceived))
		counter(mBrMsgsOut, float64(b.MessagesSent))
		counter(mBrBytesIn, float64(b.BytesReceived))
		counter(mBrBytesOut, float64(b.BytesSent))
		counter(mBrDropped, float64(b.Dropped))
		counter(mBrDenied, float64(b.Denied))
		counter(mBrDelDenied, float64(b.DeliveriesDenied))
		counter(mBrNotStored, float64(b.NotStored))
		counter(mBrStalled, float64(b.Stalled))
		gauge(mBrMemory, float64(b.MemoryBytes))
		counter(mBrMemDrops, float64(b.MemoryDropped))
	}
	if src.Devices != nil {
		for _, d := range src.Devices() {
			gauge(mDevUp, b2f(d.State == "ok"), d.Name)
			counter(mDevPolls, float64(d.Polls), d.Name)
			counter(mDevFailures, float64(d.Failures), d.Name)
			counter(mDevReqs, float64(d.Requests), d.Name)
			counter(mDevReqErrs, float64(d.ReqErrors), d.Name)
			counter(mDevReadings, float64(d.Readings), d.Name)
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// newRegistry holds the gateway's collector and the Go runtime and process
// collectors; it is the server's own, not the global default registry.
func newRegistry(s *Server) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector{s: s},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

func (s *Server) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{ErrorLog: promLogger{s}})
}

// promLogger passes promhttp's errors to the server's logger.
type promLogger struct{ s *Server }

// Println logs a metrics error.
func (l promLogger) Println(v ...any) { l.s.log.Warn("web: metrics", "err", v) }
