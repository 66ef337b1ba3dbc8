package memstore

import (
	"testing"
	"time"
	"unsafe"
)

func TestSlotFillsTwoCacheLines(t *testing.T) {
	// A verification reads one slot. A larger slot would spill into a
	// third cache line, and cost a third memory access on a cold read.
	if size := unsafe.Sizeof(slot{}); size != 128 {
		t.Fatalf("slot takes %d bytes, want 128", size)
	}
}

func TestSplitTimeRoundTrip(t *testing.T) {
	for _, at := range []time.Time{
		{},
		time.Unix(0, 0).UTC(),
		time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC),
		time.Date(2026, 3, 2, 9, 0, 0, 123456789, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
	} {
		got := joinTime(splitTime(at))
		if !got.Equal(at) || got.IsZero() != at.IsZero() || (at.IsZero() && got != at) {
			t.Errorf("joinTime(splitTime(%v)) = %v", at, got)
		}
	}
}
