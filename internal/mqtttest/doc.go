// Package mqtttest holds the helpers that tests use to run real MQTT peers:
// a Debian mosquitto broker on a free loopback port (Mosquitto), a paho
// subscriber that records what arrives (Recorder), a throwaway PKI for TLS
// tests (NewPKI), and lookups of the external programs the tests run
// (NeedTool).
//
// It is an ordinary package so that the tests of several packages can share
// it, but it imports testing and is meant for _test.go files only: nothing
// in the gateway itself imports it.
//
// Every helper binds only to 127.0.0.1, takes its ports free, keeps its files
// under t.TempDir() and stops what it started in t.Cleanup. None of them is
// safe for concurrent use from several goroutines of a test, except where a
// doc comment says so.
package mqtttest
