package web

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// sourceTimeout bounds one call of a buffer source by the sampler and the
// metrics collector.
const sourceTimeout = 5 * time.Second

// Server is the web status page, API and metrics endpoint. Create it with
// New, which binds the listener, then call Run once.
type Server struct {
	cfg  Config
	src  Sources
	log  *slog.Logger
	now  func() time.Time
	auth *authenticator

	ln      net.Listener
	tls     *tls.Config // set when [web] names a certificate
	handler http.Handler
	reg     *prometheus.Registry

	values *values
	hist   *history
	hub    *hub

	lastStatus atomic.Pointer[Status] // taken by the last sample, for the event streams

	hostRefused atomic.Uint64 // requests refused by checkHost
	hostLogged  atomic.Bool

	closeOnce sync.Once
	closeErr  error
}

// New validates cfg, binds cfg.Address and returns a server ready to Run.
// The listener is open when New returns (so the caller may report
// readiness); call Run to serve, or Close if Run will never be called.
func New(cfg Config, src Sources, log *slog.Logger) (*Server, error) {
	s, err := Prepare(cfg, src, log)
	if err != nil {
		return nil, err
	}
	if err := s.Listen(); err != nil {
		return nil, err
	}
	return s, nil
}

// Prepare validates cfg and returns a server that does not listen yet: its
// Observe works at once (the history fills), and Listen binds cfg.Address,
// which may be retried while the address is taken.
func Prepare(cfg Config, src Sources, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	s := newServer(cfg, src, log)
	if cfg.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("web: load certificate: %w", err)
		}
		s.tls = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	}
	return s, nil
}

// Listen binds the configured address. Call it (again, after an error)
// before Run, from the goroutine that will call Run.
func (s *Server) Listen() error {
	ln, err := net.Listen("tcp", s.cfg.Address)
	if err != nil {
		return fmt.Errorf("web: listen: %w", err)
	}
	if s.tls != nil {
		ln = tls.NewListener(ln, s.tls)
	}
	s.ln = ln
	return nil
}

// newServer builds a server without a listener (tests serve Handler).
func newServer(cfg Config, src Sources, log *slog.Logger) *Server {
	cfg = cfg.withDefaults()
	s := &Server{
		cfg:  cfg,
		src:  src,
		log:  log,
		now:  time.Now,
		hist: newHistory(cfg.History),
		hub:  newHub(),
	}
	s.auth = newAuthenticator(cfg.Token, cfg.Authenticate, func() time.Time { return s.now() })
	s.values = &values{m: make(map[string]*PointValue), notify: s.hub.value}
	s.reg = newRegistry(s)
	s.handler = s.routes()
	return s
}

// Addr returns the address the server listens on (useful with port 0).
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Handler returns the server's HTTP handler, authentication included.
func (s *Server) Handler() http.Handler { return s.handler }

// Run samples the sources and serves HTTP until ctx is cancelled, then shuts
// down (open event streams end with ctx) and returns nil. It returns an error
// only when serving fails.
func (s *Server) Run(ctx context.Context) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.log.Info("web: serving", "address", s.ln.Addr().String(), "auth", s.cfg.NeedsAuth(), "tls", s.cfg.CertFile != "")
	sctx, stopSampling := context.WithCancel(ctx)
	defer stopSampling()
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.sampleLoop(sctx)
	}()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(s.ln) }()
	var err error
	select {
	case err = <-errc:
		err = fmt.Errorf("web: serve: %w", err)
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		if serr := srv.Shutdown(sctx); serr != nil {
			s.log.Warn("web: shutdown", "err", serr)
		}
		cancel()
		if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) {
			err = fmt.Errorf("web: serve: %w", serr)
		}
	}
	stopSampling()
	<-done
	return err
}

// Close closes the listener of a server whose Run was never called.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		if s.ln == nil {
			return // never listened
		}
		if err := s.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			s.closeErr = fmt.Errorf("web: close: %w", err)
		}
	})
	return s.closeErr
}

// sampleLoop records a history sample now and every SampleInterval.
func (s *Server) sampleLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.SampleInterval)
	defer t.Stop()
	for {
		s.sample(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sample reads the sources once into the history and wakes the streams.
func (s *Server) sample(ctx context.Context) {
	smp := Sample{Time: s.now()}
	var uplinkErr string
	if s.src.Uplink != nil {
		u := s.src.Uplink()
		smp.Uplink, uplinkErr = u.State, u.LastErr
	}
	if s.src.Buffer != nil {
		bctx, cancel := context.WithTimeout(ctx, sourceTimeout)
		b, err := s.src.Buffer(bctx)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				s.log.Debug("web: buffer stats", "err", err)
			}
		} else {
			smp.Depth, smp.Bytes, smp.HasDepth = b.Depth, b.Bytes, true
		}
	}
	var bs *BrokerStats
	if s.src.Broker != nil {
		b := s.src.Broker()
		bs = &b
	}
	s.hist.add(smp, bs, uplinkErr)
	if s.src.Devices != nil {
		s.hist.addDevices(s.src.Devices(), smp.Time)
	}
	st := s.status(ctx)
	s.lastStatus.Store(&st)
	s.hub.status()
}
