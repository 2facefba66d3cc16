package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/edgegw/gateway"
	"github.com/edgegw/gateway/broker"
	"github.com/edgegw/gateway/config"
	"github.com/edgegw/gateway/mapping"
	"github.com/edgegw/gateway/pipeline"
)

// commandTimeout bounds one write to a device, retries included.
const commandTimeout = 15 * time.Second

// commander subscribes the writable points' command topics on the local
// broker (where cloud commands arrive too, through [[upstream.subscribe]]),
// turns each command into a driver write, and publishes the outcome on the
// command topic + "/result" through results (where readings go: the
// local broker, and upstream when a forward rule matches, so that the cloud
// that sent a command learns its outcome). Commands run one at a time, in
// arrival order.
type commander struct {
	log     *slog.Logger
	b       *broker.Broker
	results gateway.Sink
	queue   chan gateway.Message

	mu      sync.Mutex
	cmds    *mapping.Commands
	writers map[string]gateway.Writer // by device name
	unsub   []func()
}

func newCommander(log *slog.Logger, b *broker.Broker, results gateway.Sink) *commander {
	return &commander{log: log.With("component", "commands"), b: b, results: results, queue: make(chan gateway.Message, 64)}
}

// set (re)subscribes the command topics of cmds, writing to devices.
func (c *commander) set(cmds *mapping.Commands, devices []pipeline.Device) error {
	writers := map[string]gateway.Writer{}
	for _, d := range devices {
		if w, ok := d.Driver.(gateway.Writer); ok {
			writers[d.Name] = w
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, u := range c.unsub {
		u()
	}
	c.unsub = nil
	c.cmds, c.writers = cmds, writers
	for _, topic := range cmds.Topics() {
		u, err := c.b.Subscribe(topic, 1, c.enqueue)
		if err != nil {
			return fmt.Errorf("subscribe command topic %s: %w", topic, err)
		}
		c.unsub = append(c.unsub, u)
	}
	if n := len(c.unsub); n > 0 {
		c.log.Info("listening for commands", "topics", n)
	}
	return nil
}

// enqueue is the broker callback: it must not block.
func (c *commander) enqueue(m gateway.Message) {
	if m.Retain {
		// A retained message replayed on subscribe is an old command, not a
		// new one: executing it at every start would be dangerous.
		c.log.Warn("retained command ignored; commands must not be retained (clear it with an empty retained message)", "topic", m.Topic)
		return
	}
	select {
	case c.queue <- m:
	default:
		c.reply(context.Background(), mapping.Command{Topic: m.Topic}, errors.New("too many commands waiting; try again"))
	}
}

// run executes queued commands until ctx is cancelled.
func (c *commander) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-c.queue:
			c.execute(ctx, m)
		}
	}
}

func (c *commander) execute(ctx context.Context, m gateway.Message) {
	c.mu.Lock()
	cmds, writers := c.cmds, c.writers
	c.mu.Unlock()
	cmd, err := cmds.Route(m.Topic, m.Payload)
	if err == nil {
		w, ok := writers[cmd.Device]
		if !ok {
			err = fmt.Errorf("device %s: %w", cmd.Device, gateway.ErrNotWritable)
		} else {
			wctx, cancel := context.WithTimeout(ctx, commandTimeout)
			err = w.WritePoint(wctx, cmd.Point, cmd.Value)
			cancel()
		}
	}
	if err != nil {
		c.log.Warn("command failed", "topic", m.Topic, "payload", string(truncate(m.Payload, 64)), "err", err)
	} else {
		c.log.Info("command written", "device", cmd.Device, "point", cmd.Point, "value", cmd.Value.String())
	}
	c.reply(ctx, cmd, err)
}

func (c *commander) reply(ctx context.Context, cmd mapping.Command, err error) {
	c.mu.Lock()
	cmds := c.cmds
	c.mu.Unlock()
	if perr := c.results.Publish(context.WithoutCancel(ctx), cmds.Result(cmd, err)); perr != nil {
		c.log.Warn("command result not published", "topic", cmd.Topic, "err", perr)
	}
}

func (c *commander) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, u := range c.unsub {
		u()
	}
	c.unsub = nil
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// commandSpec returns point j of device i as a command target: its kind,
// range, writability (Modbus holding registers and coils, and serial devices
// with a write_template, unless writable = false) and command topic.
func commandSpec(cfg *config.Config, probs *config.Problems, i, j int) mapping.CommandSpec {
	d, pt := &cfg.Devices[i], &cfg.Devices[i].Points[j]
	r := pt.Rule.Inherit(d.Rule).Inherit(cfg.Mapping.Rule)
	spec := mapping.CommandSpec{Device: d.Name, Point: pt.Name, Unit: pt.Unit, Min: pt.Min, Max: pt.Max, CommandTopic: r.CommandTopic, Kind: gateway.KindFloat}
	if d.Section != nil {
		spec.Kind, spec.Writable = d.Section.Command(d, j)
	}
	if pt.Writable != nil && !*pt.Writable {
		spec.Writable = false
	}
	if spec.Kind == gateway.KindBool || spec.Kind == gateway.KindString {
		// min and max bound numbers; on a bool or string point they are an error.
		if d.Driver != "sim" && (pt.Min != nil || pt.Max != nil) {
			probs.Add(cfg.PointPath(i, j), "min and max need a numeric point, not a %v", spec.Kind)
		}
		spec.Min, spec.Max = nil, nil
	}
	if d.Driver == "sim" {
		spec.Min, spec.Max = nil, nil // the wave's range, not a command range
	}
	return spec
}
