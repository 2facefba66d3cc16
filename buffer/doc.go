// Package buffer is the gateway's store-and-forward queue: a SQLite database
// (WAL, synchronous=FULL) holding every message bound for the upstream broker
// until that broker has acknowledged it.
//
// A message is accepted (Publish returns nil; Append calls its callback with
// nil) once it is committed to the database, or, when the uplink is up, once
// the upstream broker acknowledged it before the next commit was due; either
// way it survives kill -9 and power loss. Appends are group-committed: many
// messages share one transaction. In steady online state the upstream
// acknowledges messages within the flush interval, so they never reach the
// disk at all.
//
// A message leaves the queue only through Ack (the upstream PUBACK) or when a
// cap (max_bytes, max_age) drops the oldest; drops are counted in total and per
// topic prefix and logged once per episode.
//
// The forwarder drains the queue through Next and Ack (package upstream
// defines the interface); inspection (Reader, Main) opens a separate
// read-only connection that never blocks the writer.
package buffer
