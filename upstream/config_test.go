package upstream

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgegw/gateway"
)

func TestValidate(t *testing.T) {
	good := Default()
	good.URL = "mqtts://example.com:8883"
	good.Forward = []ForwardRule{{Filter: "site/#", RemotePrefix: "gw1"}}
	if err := good.Validate(); err != nil {
		t.Errorf("good config: %v", err)
	}
	bad := Config{
		URL:          "http://x",
		Password:     "p",
		PasswordFile: "/nonexistent/pw",
		CertFile:     "/nonexistent/cert",
		Inflight:     70000,
		MaxRate:      -1,
		Forward:      []ForwardRule{{Filter: "a/#/b", RemotePrefix: "x", RemoteTopic: "y", QoS: ptr(3)}},
		Subscribe:    []SubscribeRule{{Filter: "", LocalTopic: "a/+"}},
	}
	err := bad.Validate()
	for _, want := range []string{`url: "http://x": want mqtt://`, "password_file: set together with password", "cert_file: set without key_file",
		"inflight", "max_rate", "forward[0]: filter", "remote_topic: set together with remote_prefix", "forward[0]: qos",
		"subscribe[0]: filter", "local_topic: \"a/+\": want a topic without + or #"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: got %v, want a problem with %q", err, want)
		}
	}
}

func ptr(n int) *int { return &n }

func TestSecretRedacted(t *testing.T) {
	cfg := Default()
	cfg.URL, cfg.Password = "mqtt://h:1883", "hunter2"
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("cfg", "upstream", cfg, "pw", cfg.Password)
	for _, s := range []string{logs.String(), fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%v", cfg.Password)} {
		if strings.Contains(s, "hunter2") {
			t.Errorf("password printed: %s", s)
		}
	}
}

func TestTopicMapping(t *testing.T) {
	fwd := []struct {
		rule       ForwardRule
		local, out string
	}{
		{ForwardRule{Filter: "#"}, "a/b", "a/b"},
		{ForwardRule{Filter: "#", RemotePrefix: "gw1"}, "a/b", "gw1/a/b"},
		{ForwardRule{Filter: "#", RemotePrefix: "gw1/"}, "a/b", "gw1/a/b"},
		{ForwardRule{Filter: "#", RemoteTopic: "fixed"}, "a/b", "fixed"},
		{ForwardRule{Filter: "#", RemoteTopic: "dt/{topic}/v"}, "a/b", "dt/a/b/v"},
	}
	for _, tt := range fwd {
		if got := tt.rule.remoteTopic(tt.local); got != tt.out {
			t.Errorf("%+v remoteTopic(%q) = %q, want %q", tt.rule, tt.local, got, tt.out)
		}
	}
	sub := []struct {
		rule        SubscribeRule
		remote, out string
	}{
		{SubscribeRule{Filter: "cloud/gw1/cmd/#"}, "cloud/gw1/cmd/a", "cloud/gw1/cmd/a"},
		{SubscribeRule{Filter: "cloud/gw1/cmd/#", LocalPrefix: "cmd"}, "cloud/gw1/cmd/boiler/sp", "cmd/boiler/sp"},
		{SubscribeRule{Filter: "cloud/+/cmd", LocalPrefix: "cmd"}, "cloud/gw1/cmd", "cmd/gw1/cmd"},
		{SubscribeRule{Filter: "cloud/x", LocalPrefix: "cmd"}, "cloud/x", "cmd"},
		{SubscribeRule{Filter: "c/#", LocalTopic: "local/{topic}"}, "c/d", "local/c/d"},
	}
	for _, tt := range sub {
		if got := tt.rule.localTopic(tt.remote); got != tt.out {
			t.Errorf("%+v localTopic(%q) = %q, want %q", tt.rule, tt.remote, got, tt.out)
		}
	}
}

func TestFilter(t *testing.T) {
	var got []gateway.Message
	next := gateway.SinkFunc(func(_ context.Context, m gateway.Message) error {
		got = append(got, m)
		return nil
	})
	f := Filter([]ForwardRule{
		{Filter: "site/+/temp", RemotePrefix: "r", QoS: ptr(2)},
		{Filter: "site/#"},
	}, next)
	for _, topic := range []string{"site/a/temp", "site/a/hum", "other/x", "$SYS/x"} {
		if err := f.Publish(t.Context(), gateway.Message{Topic: topic, QoS: 0}); err != nil {
			t.Fatal(err)
		}
	}
	want := "[{site/a/temp 2} {site/a/hum 1}]" // the forwarder maps the topic when it publishes
	var have []string
	for _, m := range got {
		have = append(have, fmt.Sprintf("{%s %d}", m.Topic, m.QoS))
	}
	if s := "[" + strings.Join(have, " ") + "]"; s != want {
		t.Errorf("forwarded %s, want %s", s, want)
	}
	for _, tt := range []struct{ local, remote string }{{"site/a/temp", "r/site/a/temp"}, {"site/a/hum", "site/a/hum"}, {"gone/x", "gone/x"}} {
		if got, _ := remoteTopic([]ForwardRule{{Filter: "site/+/temp", RemotePrefix: "r"}, {Filter: "site/#"}}, tt.local); got != tt.remote {
			t.Errorf("remoteTopic(%q) = %q, want %q", tt.local, got, tt.remote)
		}
	}
	if err := Filter(nil, next).Publish(t.Context(), gateway.Message{Topic: "a"}); err != nil || len(got) != 2 {
		t.Errorf("no rules: forwarded %d, err %v; want nothing", len(got)-2, err)
	}
}

func TestFiles(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := Config{URL: "mqtts://h:8883", PasswordFile: filepath.Join(dir, "missing"), CAFile: notPEM,
		CertFile: filepath.Join(dir, "cert.pem"), KeyFile: filepath.Join(dir, "key.pem")}
	var probs []string
	for _, f := range c.Files() {
		for _, err := range f.Problems() {
			probs = append(probs, f.Key.String()+": "+err.Error())
		}
	}
	got := strings.Join(probs, "\n")
	for _, want := range []string{"password_file: open ", "ca_file: " + notPEM + ": no PEM certificates", "cert_file: with key_file "} {
		if !strings.Contains(got, want) {
			t.Errorf("Files: got problems\n%s\nwant one with %q", got, want)
		}
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate reads no files, got %v", err)
	}
}
