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
	u := cfg.Upstream
	uc := upstream.Default()
	uc.URL = u.URL
	uc.ClientID = cfg.Gateway.Name
	setIf(&uc.ClientID, u.ClientID)
	uc.Username = u.Username
	uc.Password = u.Password
	uc.PasswordFile = u.PasswordFile
	uc.CAFile, uc.CertFile, uc.KeyFile = u.CAFile, u.CertFile, u.KeyFile
	setIf(&uc.KeepAlive, u.KeepAlive.Duration)
	setIf(&uc.Inflight, u.Inflight)
	uc.MaxRate = u.MaxRate
	setIf(&uc.ReconnectMin, u.ReconnectMin.Duration)
	setIf(&uc.ReconnectMax, u.ReconnectMax.Duration)
	uc.Forward = forwardRules(cfg)
	uc.Birth, uc.Will = statusMessages(cfg)
	for _, s := range u.Subscribe {
		uc.Subscribe = append(uc.Subscribe, upstream.SubscribeRule{Filter: s.Filter, LocalPrefix: s.LocalPrefix, LocalTopic: s.LocalTopic, QoS: s.QoS})
	}
	return uc
}

func forwardRules(cfg *config.Config) []upstream.ForwardRule {
	var rules []upstream.ForwardRule
	for _, f := range cfg.Upstream.Forward {
		rules = append(rules, upstream.ForwardRule{Filter: f.Filter, RemotePrefix: f.RemotePrefix, RemoteTopic: f.RemoteTopic, QoS: f.QoS})
	}
	return rules
}

func setIf[T comparable](dst *T, v T) {
	var zero T
	if v != zero {
		*dst = v
	}
}
