// Package gateway holds the domain types shared by every stage of the edge
// gateway (readings from device points, messages bound for MQTT topics) and the
// small interfaces between the stages.
//
// The leaf packages (drivers/..., mapping, broker, buffer) import this package
// and never each other; cmd/gateway is the only place that wires concrete types
// together.
//
//	driver --Reading--> mapping --Message--> sink (broker, buffer, stdout)
package gateway
