package main

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/edgegw/gateway/broker"
	"github.com/edgegw/gateway/broker/auth"
	"github.com/edgegw/gateway/buffer"
	"github.com/edgegw/gateway/config"
	"github.com/edgegw/gateway/pipeline"
	"github.com/edgegw/gateway/upstream"
	"github.com/edgegw/gateway/web"
)

// webServer builds the status page over the running parts; buf and fwd may
// be nil (nothing is forwarded, or no upstream url). The returned closer
// releases the buffer reader.
func webServer(ctx context.Context, cfg *config.Config, log *slog.Logger, b *broker.Broker, pipe func() *pipeline.Pipeline,
	buf *buffer.Buffer, fwd *upstream.Forwarder) (*web.Server, io.Closer, error) {
	wc := web.Default()
	wc.Address = cfg.Web.Address
	wc.Token = cfg.Web.Token
	wc.CertFile, wc.KeyFile = cfg.Web.CertFile, cfg.Web.KeyFile
	if cfg.Broker.PasswordFile != "" {
		pf, err := auth.LoadPasswordFile(cfg.Broker.PasswordFile)
		if err != nil {
			return nil, nil, err
		}
		wc.Authenticate = func(user, password string) error { return pf.Authenticate(user, []byte(password)) }
	}
	src := web.Sources{
		Devices: func() []web.DeviceStatus {
			p := pipe()
			if p == nil {
				return nil
			}
			var out []web.DeviceStatus
			for _, d := range p.Status() {
				out = append(out, web.DeviceStatus{Name: d.Name, State: d.State.String(), LastError: d.LastError,
					Since: d.Since, LastOK: d.LastOK, Polls: d.Polls, Failures: d.Failures, Readings: d.Readings})
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
	srv, err := web.New(wc, src, log.With("component", "web"))
	if err != nil {
		_ = closer.Close() // the web error is the one to report
		return nil, nil, err
	}
	return srv, closer, nil
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }
