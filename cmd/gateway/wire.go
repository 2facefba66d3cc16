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
