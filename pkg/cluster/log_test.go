package cluster

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// TestRaftLogLevels: raft's hclog records come out as slog records of the
// same level, with one attribute per field, not as an INFO line wrapping
// hclog's text.
func TestRaftLogLevels(t *testing.T) {
	var b bytes.Buffer
	log := slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Debug, Output: slogWriter{log}, JSONFormat: true})
	h.Error("failed to heartbeat to", "peer", "127.0.0.1:9611", "backoff time", "10ms")
	h.Warn("heartbeat timeout reached")
	out := b.String()
	for _, want := range []string{
		`level=ERROR msg="failed to heartbeat to" component=raft "backoff time"=10ms peer=127.0.0.1:9611`,
		`level=WARN msg="heartbeat timeout reached" component=raft`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "[ERROR]") {
		t.Errorf("hclog's own level text is still there:\n%s", out)
	}
}
