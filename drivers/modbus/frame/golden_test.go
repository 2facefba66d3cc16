package frame

// Golden frames, one comment per byte. RTU CRCs were cross-checked with
// pymodbus' computeCRC; the read holding request is the example of Serial
// 6.2.2 (CRC 76 87). Data values follow the examples of MBAP 6.1-6.12.

type golden struct {
	name  string
	slave byte // RTU address or TCP unit id
	tid   uint16
	pdu   PDU
	frame []byte
}

var rtuGoldens = []golden{
	{name: "read holding request", slave: 0x11, pdu: ReadRequest(ReadHoldingRegisters, 0x006B, 3), frame: []byte{
		0x11,       // slave address 17
		0x03,       // function: read holding registers
		0x00, 0x6B, // starting address 107
		0x00, 0x03, // quantity 3
		0x76, 0x87, // CRC low, high
	}},
	{name: "read holding response", slave: 0x11, pdu: PDU{ReadHoldingRegisters, []byte{6, 0x02, 0x2B, 0, 0, 0, 0x64}}, frame: []byte{
		0x11,       // slave address 17
		0x03,       // function: read holding registers
		0x06,       // byte count 6
		0x02, 0x2B, // register 107 = 555
		0x00, 0x00, // register 108 = 0
		0x00, 0x64, // register 109 = 100
		0xC8, 0xBA, // CRC
	}},
	{name: "read coils request", slave: 1, pdu: ReadRequest(ReadCoils, 0x0013, 0x13), frame: []byte{
		0x01,       // slave 1
		0x01,       // function: read coils
		0x00, 0x13, // starting address 19
		0x00, 0x13, // quantity 19
		0x8C, 0x02, // CRC
	}},
	{name: "read coils response", slave: 1, pdu: PDU{ReadCoils, []byte{3, 0xCD, 0x6B, 0x05}}, frame: []byte{
		0x01,             // slave 1
		0x01,             // function: read coils
		0x03,             // byte count 3
		0xCD, 0x6B, 0x05, // coils 27..20, 35..28, padding + 38..36
		0x42, 0x82, // CRC
	}},
	{name: "read discrete request", slave: 1, pdu: ReadRequest(ReadDiscreteInputs, 0x00C4, 0x16), frame: []byte{
		0x01,       // slave 1
		0x02,       // function: read discrete inputs
		0x00, 0xC4, // starting address 196
		0x00, 0x16, // quantity 22
		0xB8, 0x39, // CRC
	}},
	{name: "read discrete response", slave: 1, pdu: PDU{ReadDiscreteInputs, []byte{3, 0xAC, 0xDB, 0x35}}, frame: []byte{
		0x01,             // slave 1
		0x02,             // function: read discrete inputs
		0x03,             // byte count 3
		0xAC, 0xDB, 0x35, // inputs 203..196, 211..204, 217..212
		0x22, 0x88, // CRC
	}},
	{name: "read input request", slave: 1, pdu: ReadRequest(ReadInputRegisters, 8, 1), frame: []byte{
		0x01,       // slave 1
		0x04,       // function: read input registers
		0x00, 0x08, // starting address 8
		0x00, 0x01, // quantity 1
		0xB0, 0x08, // CRC
	}},
	{name: "read input response", slave: 1, pdu: PDU{ReadInputRegisters, []byte{2, 0x00, 0x0A}}, frame: []byte{
		0x01,       // slave 1
		0x04,       // function: read input registers
		0x02,       // byte count 2
		0x00, 0x0A, // register 8 = 10
		0x39, 0x37, // CRC
	}},
	{name: "write single coil request", slave: 1, pdu: WriteSingleCoilRequest(0xAC, true), frame: []byte{
		0x01,       // slave 1
		0x05,       // function: write single coil
		0x00, 0xAC, // output address 172
		0xFF, 0x00, // ON
		0x4C, 0x1B, // CRC
	}},
	{name: "write single register request", slave: 1, pdu: WriteSingleRegisterRequest(1, 3), frame: []byte{
		0x01,       // slave 1
		0x06,       // function: write single register
		0x00, 0x01, // register address 1
		0x00, 0x03, // value 3
		0x98, 0x0B, // CRC
	}},
	{name: "write multiple coils request", slave: 1, pdu: must(WriteMultipleCoilsRequest(0x13, UnpackBits([]byte{0xCD, 0x01}, 10))), frame: []byte{
		0x01,       // slave 1
		0x0F,       // function: write multiple coils
		0x00, 0x13, // starting address 19
		0x00, 0x0A, // quantity 10
		0x02,       // byte count 2
		0xCD, 0x01, // outputs 27..20, padding + 29..28
		0x72, 0xCB, // CRC
	}},
	{name: "write multiple coils response", slave: 1, pdu: PDU{WriteMultipleCoils, []byte{0, 0x13, 0, 0x0A}}, frame: []byte{
		0x01,       // slave 1
		0x0F,       // function: write multiple coils
		0x00, 0x13, // starting address 19
		0x00, 0x0A, // quantity 10
		0x24, 0x09, // CRC
	}},
	{name: "write multiple registers request", slave: 1, pdu: must(WriteMultipleRegistersRequest(1, []byte{0, 0x0A, 1, 2})), frame: []byte{
		0x01,       // slave 1
		0x10,       // function: write multiple registers
		0x00, 0x01, // starting address 1
		0x00, 0x02, // quantity 2
		0x04,       // byte count 4
		0x00, 0x0A, // register 1 = 10
		0x01, 0x02, // register 2 = 258
		0x92, 0x30, // CRC
	}},
	{name: "write multiple registers response", slave: 1, pdu: PDU{WriteMultipleRegisters, []byte{0, 1, 0, 2}}, frame: []byte{
		0x01,       // slave 1
		0x10,       // function: write multiple registers
		0x00, 0x01, // starting address 1
		0x00, 0x02, // quantity 2
		0x10, 0x08, // CRC
	}},
	{name: "exception illegal data address", slave: 1, pdu: ExceptionResponse(ReadHoldingRegisters, IllegalDataAddress), frame: []byte{
		0x01,       // slave 1
		0x83,       // function: 0x80 | read holding registers
		0x02,       // exception: illegal data address
		0xC0, 0xF1, // CRC
	}},
	{name: "exception busy", slave: 10, pdu: ExceptionResponse(ReadInputRegisters, ServerDeviceBusy), frame: []byte{
		0x0A,       // slave 10
		0x84,       // function: 0x80 | read input registers
		0x06,       // exception: server device busy
		0xB2, 0xC0, // CRC
	}},
}

// badRTU are frames DecodeRTU must reject, with the error it must wrap.
var badRTU = []struct {
	name  string
	frame []byte
	err   error
}{
	{"bad crc", []byte{
		0x11,                   // slave 17
		0x03,                   // read holding registers
		0x00, 0x6B, 0x00, 0x03, // address 107, quantity 3
		0x76, 0x88, // CRC off by one
	}, ErrBadCRC},
	{"short", []byte{0x01, 0x83, 0x02}, ErrShortFrame}, // no CRC
	{"too long", make([]byte, MaxRTUFrame+1), ErrBadLength},
}

var tcpGoldens = []golden{
	{name: "read holding request", tid: 0x0001, slave: 0x11, pdu: ReadRequest(ReadHoldingRegisters, 0x006B, 3), frame: []byte{
		0x00, 0x01, // transaction id 1
		0x00, 0x00, // protocol id 0 = Modbus
		0x00, 0x06, // length: unit + 5 PDU bytes
		0x11,       // unit id 17
		0x03,       // function: read holding registers
		0x00, 0x6B, // starting address 107
		0x00, 0x03, // quantity 3
	}},
	{name: "read holding response", tid: 0x0001, slave: 0x11, pdu: PDU{ReadHoldingRegisters, []byte{6, 0x02, 0x2B, 0, 0, 0, 0x64}}, frame: []byte{
		0x00, 0x01, // transaction id 1
		0x00, 0x00, // protocol id 0
		0x00, 0x09, // length: unit + 8 PDU bytes
		0x11,       // unit id 17
		0x03,       // function: read holding registers
		0x06,       // byte count 6
		0x02, 0x2B, // 555
		0x00, 0x00, // 0
		0x00, 0x64, // 100
	}},
	{name: "write single coil request", tid: 0xBEEF, slave: 0xFF, pdu: WriteSingleCoilRequest(0xAC, false), frame: []byte{
		0xBE, 0xEF, // transaction id 0xBEEF
		0x00, 0x00, // protocol id 0
		0x00, 0x06, // length 6
		0xFF,       // unit id 255: not used (TCP 4.4.2)
		0x05,       // function: write single coil
		0x00, 0xAC, // output address 172
		0x00, 0x00, // OFF
	}},
	{name: "exception", tid: 0x1234, slave: 1, pdu: ExceptionResponse(WriteSingleRegister, IllegalDataValue), frame: []byte{
		0x12, 0x34, // transaction id
		0x00, 0x00, // protocol id 0
		0x00, 0x03, // length 3
		0x01, // unit 1
		0x86, // function: 0x80 | write single register
		0x03, // exception: illegal data value
	}},
}

var badTCP = []struct {
	name  string
	frame []byte
	err   error
}{
	{"protocol 1", []byte{0, 1, 0, 1, 0, 3, 1, 0x83, 2}, ErrBadProtocol},
	{"length too small", []byte{0, 1, 0, 0, 0, 1, 1}, ErrBadLength},
	{"length too large", []byte{0, 1, 0, 0, 0x01, 0x00, 1, 3}, ErrBadLength},
	{"length mismatch", []byte{0, 1, 0, 0, 0, 6, 1, 3, 0, 0}, ErrBadLength},
	{"short header", []byte{0, 1, 0, 0, 0}, ErrShortFrame},
}

func must(p PDU, err error) PDU {
	if err != nil {
		panic(err)
	}
	return p
}
