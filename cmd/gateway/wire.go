package main

import (
	"github.com/edgegw/gateway/broker"
	"github.com/edgegw/gateway/buffer"
	"github.com/edgegw/gateway/config"
	"github.com/edgegw/gateway/upstream"
)

// brokerConfig compiles [broker] into the broker's Config.
func brokerConfig(cfg *config.Config) broker.Config {
	return broker.FromSection(cfg.Broker, cfg.Gateway.DataDir)
}

// bufferConfig compiles [buffer] into the buffer's Config.
func bufferConfig(cfg *config.Config) buffer.Config {
	return buffer.FromSection(cfg.Buffer, cfg.Gateway.DataDir)
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
