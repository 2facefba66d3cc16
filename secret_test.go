package gateway

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestSecretRedacted(t *testing.T) {
	s := Secret("hunter2")
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "pw", s, "cfg", struct{ P Secret }{s})
	for _, out := range []string{logs.String(), fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s", s, struct{ P Secret }{s}, s, s)} {
		if strings.Contains(out, "hunter2") {
			t.Errorf("secret printed: %s", out)
		}
	}
	if got := s.Reveal(); got != "hunter2" {
		t.Errorf("Reveal() = %q, want hunter2", got)
	}
	if got := Secret("").String(); got != "" {
		t.Errorf("empty secret prints %q, want \"\"", got)
	}
}
