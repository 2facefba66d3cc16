package mapping

import (
	"testing"

	"github.com/edgegw/gateway"
)

func BenchmarkMap(b *testing.B) {
	for _, bc := range []struct {
		name string
		rule Rule
		v    func(i int) gateway.Value
	}{
		{"json", Rule{Topic: "{gateway}/{device}/{point}", Payload: "json"}, func(i int) gateway.Value { return gateway.Float(21.5 + float64(i%10)) }},
		{"value", Rule{Topic: "{gateway}/{device}/{point}", Payload: "value"}, func(i int) gateway.Value { return gateway.Int(int64(i)) }},
		{"on_change_suppressed", Rule{Topic: "{gateway}/{device}/{point}", Payload: "json", OnChange: true, Deadband: 1}, func(int) gateway.Value { return gateway.Float(21.5) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			m, err := New("pi", []Point{{Device: "boiler", Point: "temp", Unit: "°C", Rule: bc.rule}})
			if err != nil {
				b.Fatal(err)
			}
			r := gateway.Reading{Device: "boiler", Point: "temp", Unit: "°C", Time: ts}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				r.Value = bc.v(i)
				i++
				m.Map(r)
			}
		})
	}
}
