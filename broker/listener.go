package broker

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/coder/websocket"
)

// listen binds l and starts serving it. The caller holds b.lnMu.
func (b *Broker) listen(ctx context.Context, l Listener) error {
	var tlsCfg *tls.Config
	if l.Protocol == "mqtts" || l.Protocol == "wss" {
		var err error
		if tlsCfg, err = loadTLS(l); err != nil {
			return fmt.Errorf("listener %s %s: %w", l.Protocol, l.Address, err)
		}
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", l.Address)
	if err != nil {
		return fmt.Errorf("listener %s: %w", l.Protocol, err)
	}
	ca := b.listenerAuth(l, ln.Addr())
	log := b.log.With("listener", l.Protocol, "address", ln.Addr().String())
	b.addrs = append(b.addrs, ln.Addr())
	switch l.Protocol {
	case "mqtt", "mqtts":
		if tlsCfg != nil {
			ln = tls.NewListener(ln, tlsCfg)
		}
		b.listeners = append(b.listeners, ln)
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			b.acceptLoop(ln, ca, log)
		}()
	case "ws", "wss":
		mux := http.NewServeMux()
		origins := newOriginPolicy(ca.anonymous, l.AllowedOrigins)
		mux.HandleFunc(l.Path, func(w http.ResponseWriter, r *http.Request) {
			b.serveWS(w, r, ca, origins, log)
		})
		srv := &http.Server{Handler: mux, TLSConfig: tlsCfg, ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:    slog.NewLogLogger(log.Handler(), slog.LevelDebug),
			BaseContext: func(net.Listener) context.Context { return b.ctx }}
		b.listeners = append(b.listeners, srv)
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			var err error
			if tlsCfg != nil {
				err = srv.ServeTLS(ln, "", "")
			} else {
				err = srv.Serve(ln)
			}
			if err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("websocket listener stopped", "err", err)
			}
		}()
	}
	log.Info("broker listening", "anonymous", ca.anonymous, "user_from_certificate", ca.certUser != certUserNone)
	return nil
}

func (b *Broker) acceptLoop(ln net.Listener, ca clientAuth, log interface{ Error(string, ...any) }) {
	for {
		nc, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			log.Error("accept", "err", err)
			select {
			case <-b.ctx.Done():
				return
			case <-time.After(100 * time.Millisecond): // back off on EMFILE and the like
			}
			continue
		}
		if tc, ok := nc.(*net.TCPConn); ok {
			tc.SetNoDelay(true) // default already; a failure changes nothing
		}
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			b.serveConn(nc, ca)
		}()
	}
}

func (b *Broker) serveWS(w http.ResponseWriter, r *http.Request, ca clientAuth, origins *originPolicy, log *slog.Logger) {
	if err := origins.check(r); err != nil {
		origins.logOnce(log, r, err)
		b.stats.originRefused.Add(1)
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	// The origin is checked above; the library's own same-origin check
	// would refuse allowed_origins and listeners that require a login.
	wc, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"mqtt", "mqttv3.1"}, InsecureSkipVerify: true})
	if err != nil {
		b.log.Debug("websocket upgrade", "remote", r.RemoteAddr, "err", err)
		return
	}
	nc := newWSConn(wc, r)
	b.serveConn(nc, ca) // counted in b.wg by addConn
	// After the MQTT connection (and any DISCONNECT), the WebSocket close
	// handshake, bounded by wsCloseTimeout.
	nc.closeHandshake()
}

func loadTLS(l Listener) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(l.CertFile, l.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("load certificate: %w", err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if l.CAFile != "" {
		pem, err := os.ReadFile(l.CAFile)
		if err != nil {
			return nil, fmt.Errorf("load client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("load client CA %s: no certificates", l.CAFile)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// anonymousAllowed says whether a listener bound to addr accepts clients
// without a user name: when allow_anonymous is set, or on a loopback
// address when no password file is configured. A non-loopback listener
// never accepts them unless allow_anonymous says so.
func anonymousAllowed(cfg Config, addr net.Addr) bool {
	return cfg.AllowAnonymous || (isLoopback(addr) && cfg.PasswordFile == "")
}

func isLoopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}
