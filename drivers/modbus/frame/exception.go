package frame

import "strconv"

// Exception is a Modbus exception code returned by a slave in place of a
// normal response (MBAP 7). It is an error; compare it with errors.Is or
// extract it with errors.As.
type Exception byte

// The exception codes of MBAP 7.
const (
	IllegalFunction                    Exception = 0x01
	IllegalDataAddress                 Exception = 0x02
	IllegalDataValue                   Exception = 0x03
	ServerDeviceFailure                Exception = 0x04
	Acknowledge                        Exception = 0x05
	ServerDeviceBusy                   Exception = 0x06
	MemoryParityError                  Exception = 0x08
	GatewayPathUnavailable             Exception = 0x0A
	GatewayTargetDeviceFailedToRespond Exception = 0x0B
)

var exceptionNames = map[Exception]string{
	IllegalFunction:                    "illegal function",
	IllegalDataAddress:                 "illegal data address",
	IllegalDataValue:                   "illegal data value",
	ServerDeviceFailure:                "server device failure",
	Acknowledge:                        "acknowledge",
	ServerDeviceBusy:                   "server device busy",
	MemoryParityError:                  "memory parity error",
	GatewayPathUnavailable:             "gateway path unavailable",
	GatewayTargetDeviceFailedToRespond: "gateway target device failed to respond",
}

// Error returns the exception's name and code, e.g.
// "modbus exception 2 (illegal data address)".
func (e Exception) Error() string {
	name, ok := exceptionNames[e]
	if !ok {
		name = "unknown"
	}
	return "modbus exception " + strconv.Itoa(int(e)) + " (" + name + ")"
}

// Retryable reports whether repeating the same request may succeed: the slave
// was busy or still working (Acknowledge), or a gateway did not reach it.
// Address, function and value errors will fail the same way again.
func (e Exception) Retryable() bool {
	switch e {
	case Acknowledge, ServerDeviceBusy, GatewayTargetDeviceFailedToRespond, GatewayPathUnavailable:
		return true
	}
	return false
}
