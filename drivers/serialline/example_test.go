package serialline_test

import (
	"fmt"
	"log/slog"

	"github.com/edgegw/gateway/drivers/serialline"
)

func ExampleNew() {
	cfg := serialline.Config{
		Device: "weather",
		Port:   "/dev/serial/by-id/usb-Arduino_Uno_75830333238351F0E1E1-if00",
		Format: serialline.FormatKV,
		Points: []serialline.Point{{Name: "temperature", Field: "t", Scale: 0.1, Unit: "°C"}},
	}
	d, err := serialline.New(cfg, slog.New(slog.DiscardHandler))
	fmt.Println(d != nil, err)

	cfg.Format, cfg.Parity = "yaml", "mark"
	_, err = serialline.New(cfg, slog.New(slog.DiscardHandler))
	fmt.Println(err)
	// Output:
	// true <nil>
	// serial device "weather": parity: "mark": want none, even or odd
	// format: "yaml": want json, kv, csv or regex
}

func ExampleKVParser() {
	p := serialline.KVParser{PairSeparator: ",", KVSeparator: ":"}
	fields, err := p.Parse("t:21.5, door:open, alarm:false")
	fmt.Println(fields["t"], fields["door"], fields["alarm"], err)
	// Output: 21.5 open false <nil>
}
