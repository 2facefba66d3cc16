// Package modbusbench measures the Modbus driver: requests, bytes and wire
// time per poll of a 50-point device, and the poll cycle time over TCP
// against pymodbus and the built-in simulator. See docs/benchmarks-modbus.md
// for results and the commands that produced them.
package modbusbench
