package modbussim

import (
	"log/slog"
	"math"
	"time"
)

// NewDemo returns the demo slave. Its layout (0-based addresses, byte order
// ABCD unless noted) is what modbus.DemoConfig polls:
//
//	input    0-1   float32  temperature  21 + 4*sin(2*pi*t/60s) °C
//	input    2-3   uint32   counter      seconds since start
//	input    4     int16    humidity     scale 0.1: 450 + 50*sin(2*pi*t/90s) -> %
//	holding  0     int16    setpoint     scale 0.1, initially 215 (21.5 °C), writable
//	holding  1-2   float32  flow         byte order CDAB, 12.5 + sin(2*pi*t/30s) m3/h
//	holding  10-17 string   model        "EDGE-SIM", 8 registers
//	coil     0     bool     running      toggles every 10 s
//	coil     1     bool     fan          writable, initially off
//	discrete 0     bool     alarm        temperature above the setpoint + 2 °C
//	holding  20    bit 3    heater       bit 3 of a status register, on while temperature < setpoint
func NewDemo(log *slog.Logger) *Server {
	s := New(log, demoUpdate)
	s.Do(func(st *Store) {
		st.Holding[0] = 215
		SetString(&st.Holding, 10, 8, "EDGE-SIM")
	})
	return s
}

func demoUpdate(el time.Duration, st *Store) {
	t := el.Seconds()
	temp := 21 + 4*math.Sin(2*math.Pi*t/60)
	SetFloat32(&st.Input, 0, float32(temp))
	SetUint32(&st.Input, 2, uint32(t))
	st.Input[4] = uint16(int16(450 + 50*math.Sin(2*math.Pi*t/90)))
	// flow, word-swapped (CDAB)
	f := math.Float32bits(float32(12.5 + math.Sin(2*math.Pi*t/30)))
	st.Holding[1], st.Holding[2] = uint16(f), uint16(f>>16)
	st.Coils[0] = int(t/10)%2 == 0
	setpoint := float64(int16(st.Holding[0])) / 10
	st.Discrete[0] = temp > setpoint+2
	if temp < setpoint {
		st.Holding[20] |= 1 << 3
	} else {
		st.Holding[20] &^= 1 << 3
	}
}
