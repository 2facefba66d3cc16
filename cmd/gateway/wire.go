package main

import (
	"path/filepath"

	"github.com/edgegw/gateway/broker"
	"github.com/edgegw/gateway/buffer"
	"github.com/edgegw/gateway/config"
	"github.com/edgegw/gateway/upstream"
)

// brokerConfig maps [broker] onto the broker's Config.
func brokerConfig(cfg *config.Config) broker.Config {
	b := cfg.Broker
	bc := broker.Config{
		PasswordFile:      b.PasswordFile,
		ACLFile:           b.ACLFile,
		AllowAnonymous:    b.AllowAnonymous,
		SysInterval:       b.SysInterval.Duration,
		MaxPacketSize:     int(b.MaxPacketSize.Bytes),
		MaxConnections:    b.MaxConnections,
		MaxQueuedMessages: b.MaxQueuedMessages,
		MaxQueuedBytes:    int(b.MaxQueuedBytes.Bytes),
		MaxInflight:       b.MaxInflight,
		StallTimeout:      b.StallTimeout.Duration,
		MaxMemory:         b.MaxMemory.Bytes,
		MaxSubscriptions:  b.MaxSubscriptions,
		SessionExpiry:     b.SessionExpiry.Duration,
		PersistencePath:   filepath.Join(cfg.Gateway.DataDir, "broker.db"),
	}
	for _, l := range b.Listeners {
		bc.Listeners = append(bc.Listeners, broker.Listener{
			Address: l.Address, Protocol: l.Protocol, CertFile: l.CertFile, KeyFile: l.KeyFile, CAFile: l.CAFile, Path: l.Path,
			AllowedOrigins: l.AllowedOrigins,
		})
	}
	return bc
}

// bufferConfig maps [buffer] onto the buffer's Config.
func bufferConfig(cfg *config.Config) buffer.Config {
	bc := buffer.Default(bufferPath(cfg))
	bc.MaxBytes = cfg.Buffer.MaxBytes.Bytes
	bc.MaxAge = cfg.Buffer.MaxAge.Duration
	setIf(&bc.FlushInterval, cfg.Buffer.FlushInterval.Duration)
	return bc
}

// upstreamConfig maps [upstream] onto the forwarder's Config.
func upstreamConfig(cfg *config.Config) upstream.Config {
	uc := upstream.FromConfig(cfg.Upstream)
	if cfg.Upstream.ClientID == "" {
		uc.ClientID = cfg.Gateway.Name
	}
	uc.Birth, uc.Will = statusMessages(cfg)
	return uc
}

func forwardRules(cfg *config.Config) []upstream.ForwardRule {
	return upstream.ForwardRules(cfg.Upstream)
}

func setIf[T comparable](dst *T, v T) {
	var zero T
	if v != zero {
		*dst = v
	}
}
