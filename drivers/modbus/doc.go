// Package modbus is the gateway's Modbus master: RTU over a serial line and
// TCP, polling device points and writing commands to them.
//
// The layers, innermost first:
//
//   - package frame encodes and decodes PDUs, RTU frames (CRC-16) and TCP
//     frames (MBAP); no I/O.
//   - Codec turns a point's registers into a gateway.Value and back, compiled
//     once from the point's type, byte order, scale and offset.
//   - Transport carries one request at a time: TCPTransport (reconnects with
//     backoff) and Bus (an RTU serial line shared by the slaves on it;
//     reopens a vanished port).
//   - Client adds the device's timeout and retries.
//   - Device polls its points in coalesced reads (gateway.Driver and
//     gateway.Poller) and writes them (gateway.Writer).
//
// New builds the devices of a configuration, sharing one Bus per serial port
// and one connection per TCP address. Probe and ProbeMain read raw registers
// and print every interpretation, for finding a device's type and byte
// order. Package modbussim is a slave simulator for the demo and tests.
package modbus
