package httpauth

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// maxLogsPerSecond is how many records about rejected or failed requests
// the middleware writes per second. A client that retries bad credentials
// in a loop, or a store outage, would otherwise write one record per
// request.
const maxLogsPerSecond = 20

// logLimiter lets at most maxLogsPerSecond records through per second and
// counts the others. The count is reported in one record when the next
// second's first record is written.
type logLimiter struct {
	now func() time.Time

	mu         sync.Mutex
	window     time.Time
	written    int
	suppressed int
}

// log writes the record unless this second's quota is used up.
func (l *logLimiter) log(ctx context.Context, logger *slog.Logger, level slog.Level, msg string, attrs ...any) {
	now := l.now()
	l.mu.Lock()
	var dropped int
	if now.Sub(l.window) >= time.Second {
		dropped = l.suppressed
		l.window, l.written, l.suppressed = now, 0, 0
	}
	allowed := l.written < maxLogsPerSecond
	if allowed {
		l.written++
	} else {
		l.suppressed++
	}
	l.mu.Unlock()

	if dropped > 0 {
		logger.WarnContext(ctx, "httpauth: suppressed log records of rejected requests", "count", dropped, "max_per_second", maxLogsPerSecond)
	}
	if allowed {
		logger.Log(ctx, level, msg, attrs...)
	}
}
