// Package frame encodes and decodes Modbus protocol data units (PDUs) and the
// two application data unit (ADU) framings the gateway speaks: RTU over a
// serial line (slave address + PDU + CRC-16) and TCP (MBAP header + PDU).
//
// It holds no I/O state: the transports in package modbus read and write the
// bytes, this package only says what they mean. Section numbers refer to the
// "MODBUS Application Protocol Specification V1.1b3" (MBAP), the "MODBUS over
// Serial Line Specification V1.02" (Serial) and "MODBUS Messaging on TCP/IP
// Implementation Guide V1.0b" (TCP).
package frame
