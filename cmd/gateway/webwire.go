package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/edgegw/gateway/broker"
	"github.com/edgegw/gateway/broker/auth"
	"github.com/edgegw/gateway/buffer"
	"github.com/edgegw/gateway/config"
	"github.com/edgegw/gateway/pipeline"
	"github.com/edgegw/gateway/sdnotify"
	"github.com/edgegw/gateway/upstream"
	"github.com/edgegw/gateway/web"
)

// webServer builds the status page over the running parts; buf and fwd may
// be nil (nothing is forwarded, or no upstream url). The server does not
// listen yet (serveWeb binds it). The returned closer releases the buffer
// reader.
func webServer(ctx context.Context, cfg *config.Config, log *slog.Logger, b *broker.Broker, pipe func() *pipeline.Pipeline,
	buf *buffer.Buffer, fwd *upstream.Forwarder) (*web.Server, io.Closer, error) {
	var login func(user, password string) error
	if cfg.Broker.PasswordFile != "" {
		pf, err := auth.LoadPasswordFile(cfg.Broker.PasswordFile)
		if err != nil {
			return nil, nil, err
		}
		login = func(user, password string) error { return pf.Authenticate(user, []byte(password)) }
	}
	wc := web.FromSection(cfg.Web, login)
	src := web.Sources{
		Devices: func() []web.DeviceStatus {
			p := pipe()
			if p == nil {
				return nil
			}
			var out []web.DeviceStatus
			for _, d := range p.Status() {
				out = append(out, web.DeviceStatus{Name: d.Name, State: d.State.String(), LastError: d.LastError,
					Since: d.Since, LastOK: d.LastOK, Polls: d.Polls, Failures: d.Failures, Readings: d.Readings,
					Requests: d.Requests, ReqErrors: d.ReqErrors})
			}
			return out
		},
		Broker: func() web.BrokerStats { return web.BrokerStats(b.Stats()) },
	}
	if fwd != nil {
		src.Uplink = func() web.UplinkStatus { return web.UplinkStatus(fwd.Status()) }
	}
	var closer io.Closer = nopCloser{}
	if buf != nil {
		src.Buffer = func(ctx context.Context) (web.BufferStats, error) {
			s, err := buf.Stats(ctx)
			return web.BufferStats{Depth: s.Depth, Bytes: s.Bytes, MaxBytes: s.MaxBytes, Oldest: s.Oldest,
				OldestAge: time.Duration(s.OldestAge), Drops: s.Drops, DiskFullErrors: s.DiskFullErrors, LastAck: s.LastAck}, err
		}
		r, err := buffer.OpenReader(ctx, bufferPath(cfg))
		if err != nil {
			return nil, nil, err
		}
		closer = r
		src.BufferList = func(ctx context.Context, q web.BufferQuery) ([]web.BufferedMessage, error) {
			es, err := r.List(ctx, buffer.Filter(q))
			out := make([]web.BufferedMessage, len(es))
			for i, e := range es {
				out[i] = web.BufferedMessage(e)
			}
			return out, err
		}
		src.BufferExport = func(ctx context.Context, w io.Writer, format string, q web.BufferQuery) error {
			return r.Export(ctx, w, format, buffer.Filter(q), nil)
		}
	}
	srv, err := web.Prepare(wc, src, log.With("component", "web"))
	if err != nil {
		_ = closer.Close() // the web error is the one to report
		return nil, nil, err
	}
	return srv, closer, nil
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }

// webRetry is how long serveWeb waits between attempts to bind a taken
// address.
const webRetry = 10 * time.Second

// serveWeb binds and serves the status page until ctx is done. When the
// address is taken (often so on a Pi: something else on 127.0.0.1:8080) or
// cannot be bound, the gateway goes on without the page: it logs that once,
// with the config line, says so in systemd's status line, and retries every
// retry until it can bind.
func serveWeb(ctx context.Context, cfg *config.Config, log *slog.Logger, srv *web.Server, retry time.Duration) {
	for failed := false; ; {
		err := srv.Listen()
		if err == nil {
			if failed {
				log.Info("status page: the address is free again: serving", "address", cfg.Web.Address)
				_ = sdnotify.Status("running") // informative only
			}
			if err := srv.Run(ctx); err != nil {
				log.Error("web server stopped", "err", err)
			}
			return
		}
		if !failed {
			failed = true
			probs := cfg.Problems()
			probs.Add(config.At("web").Key("address"), "%v: the status page is off; the gateway runs without it and retries every %v", err, retry)
			log.Error(probs.Err().Error())
			_ = sdnotify.Status(fmt.Sprintf("running; status page off: %s busy, retrying", cfg.Web.Address)) // informative only
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(retry):
		}
	}
}
