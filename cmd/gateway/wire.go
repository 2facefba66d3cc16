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

// upstreamConfig compiles [upstream] into the forwarder's Config, with the
// gateway's status messages as its birth and will.
func upstreamConfig(cfg *config.Config) upstream.Config {
	uc := upstream.FromFile(cfg)
	uc.Birth, uc.Will = statusMessages(cfg)
	return uc
}

func forwardRules(cfg *config.Config) []upstream.ForwardRule {
	return upstream.ForwardRules(cfg.Upstream)
}
