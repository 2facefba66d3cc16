package modbussim

import (
	"bytes"
	"log/slog"
	"testing"
	"time"

	"github.com/edgegw/gateway/drivers/modbus/frame"
)

func TestHandle(t *testing.T) {
	s := New(slog.New(slog.DiscardHandler))
	s.Do(func(st *Store) { st.Input[7] = 0x1234; st.Discrete[3] = true })
	tests := []struct {
		name string
		req  frame.PDU
		want frame.PDU
	}{
		{"read input", frame.ReadRequest(frame.ReadInputRegisters, 7, 1), frame.PDU{Function: 4, Data: []byte{2, 0x12, 0x34}}},
		{"read discrete", frame.ReadRequest(frame.ReadDiscreteInputs, 0, 4), frame.PDU{Function: 2, Data: []byte{1, 0x08}}},
		{"past the end", frame.ReadRequest(frame.ReadHoldingRegisters, 65535, 2), frame.ExceptionResponse(3, frame.IllegalDataAddress)},
		{"too many", frame.ReadRequest(frame.ReadHoldingRegisters, 0, 126), frame.ExceptionResponse(3, frame.IllegalDataValue)},
		{"unknown function", frame.PDU{Function: 43, Data: []byte{14}}, frame.ExceptionResponse(43, frame.IllegalFunction)},
		{"write register", frame.WriteSingleRegisterRequest(5, 0xBEEF), frame.WriteSingleRegisterRequest(5, 0xBEEF)},
		{"write coils", must(frame.WriteMultipleCoilsRequest(10, []bool{true, false, true})), frame.PDU{Function: 15, Data: []byte{0, 10, 0, 3}}},
	}
	for _, tt := range tests {
		got := s.Handle(tt.req)
		if got.Function != tt.want.Function || !bytes.Equal(got.Data, tt.want.Data) {
			t.Errorf("%s: got %v % x, want %v % x", tt.name, got.Function, got.Data, tt.want.Function, tt.want.Data)
		}
	}
	s.Do(func(st *Store) {
		if st.Holding[5] != 0xBEEF || !st.Coils[10] || st.Coils[11] || !st.Coils[12] {
			t.Errorf("writes not stored: %04x %v", st.Holding[5], st.Coils[10:13])
		}
	})
}

func TestDemoChangesOverTime(t *testing.T) {
	var st Store
	demoUpdate(0, &st)
	c0 := st.Input[3]
	demoUpdate(5*time.Second, &st)
	if st.Input[3] != c0+5 {
		t.Errorf("counter %d after 5s, want %d", st.Input[3], c0+5)
	}
	if st.Coils[0] != true {
		t.Error("running coil off in the first 10 s")
	}
	demoUpdate(15*time.Second, &st)
	if st.Coils[0] != false {
		t.Error("running coil on at 15 s")
	}
}

func must(p frame.PDU, err error) frame.PDU {
	if err != nil {
		panic(err)
	}
	return p
}
