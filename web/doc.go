// Package web serves the gateway's status page, its JSON API under /api/ and
// Prometheus metrics under /metrics.
//
// The package knows none of the other stages: cmd/gateway fills a Sources
// with functions that read the pipeline, broker, buffer and upstream
// forwarder, and feeds live values in through Observe (readings) or Publish
// (messages, as a gateway.Sink). A Server samples the sources every few
// seconds into an in-memory history (buffer depth, uplink outages) for the
// chart, and pushes value updates and status to the page with Server-Sent
// Events.
//
// When the listen address is not a loopback address every request must
// authenticate, with the bearer token or with HTTP basic auth (a user checked
// by Config.Authenticate, or any user name with the token as password).
package web
