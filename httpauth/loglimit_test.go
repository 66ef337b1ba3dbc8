package httpauth

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestLogLimiterCountsSuppressedRecords(t *testing.T) {
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	limiter := &logLimiter{now: func() time.Time { return now }}
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx := context.Background()

	for range 100 {
		limiter.log(ctx, logger, slog.LevelInfo, "rejected")
	}
	if got := strings.Count(buf.String(), "msg=rejected"); got != maxLogsPerSecond {
		t.Fatalf("%d records within one second, want %d", got, maxLogsPerSecond)
	}

	buf.Reset()
	now = now.Add(time.Second)
	limiter.log(ctx, logger, slog.LevelInfo, "rejected")
	out := buf.String()
	if !strings.Contains(out, "count=80") {
		t.Errorf("the next second does not report the 80 suppressed records:\n%s", out)
	}
	if got := strings.Count(out, "msg=rejected"); got != 1 {
		t.Errorf("%d records in the next second, want 1", got)
	}
}
