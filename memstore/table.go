package memstore

import (
	"hash/maphash"
	"sync"

	"github.com/apitoken/apitoken"
)

// shard is an open-addressing hash table of records keyed by digest, with
// linear probing. It keeps the records themselves in its slots, not
// pointers to them, so that a lookup reads one region of memory. With a
// million records, each read of another random address costs a cache and
// TLB miss of several hundred nanoseconds, as much as the rest of a
// verification.
//
// A slot whose Version is 0 is empty: a stored record has version 1 or
// more. Reads that hold only the shard's lock must copy what they need
// before releasing it, because a change moves records between slots.
type shard struct {
	mu sync.RWMutex
	// slots has a power-of-two length, or is nil while the shard is
	// empty.
	slots []apitoken.Record
	count int
	seed  maphash.Seed
}

// minSlots is the number of slots of a shard that holds any record.
const minSlots = 8

// hash returns the hash of a digest. Store.shard takes the low bits to
// pick a shard, and the shard takes the remaining bits for the slot.
func hash(seed maphash.Seed, d apitoken.Digest) uint64 {
	return maphash.Comparable(seed, d)
}

func (t *shard) home(h uint64) int {
	return int(h/digestShards) & (len(t.slots) - 1)
}

// find returns the slot of the record with the digest, or -1.
func (t *shard) find(d apitoken.Digest, h uint64) int {
	if t.count == 0 {
		return -1
	}
	mask := len(t.slots) - 1
	for i := t.home(h); ; i = (i + 1) & mask {
		switch {
		case t.slots[i].Version == 0:
			return -1
		case t.slots[i].Digest == d:
			return i
		}
	}
}

// put stores rec, replacing a record with the same digest. It grows the
// table to keep it at most three quarters full, so that probe sequences
// stay short.
func (t *shard) put(rec *apitoken.Record, h uint64) {
	if (t.count+1)*4 > len(t.slots)*3 {
		t.resize(max(minSlots, 2*len(t.slots)))
	}
	mask := len(t.slots) - 1
	i := t.home(h)
	for t.slots[i].Version != 0 && t.slots[i].Digest != rec.Digest {
		i = (i + 1) & mask
	}
	if t.slots[i].Version == 0 {
		t.count++
	}
	t.slots[i] = *rec
}

// removeAt empties slot i. It then shifts back the records that follow in
// the same probe sequence, so that no search stops early at the hole. It
// shrinks the table when it is less than an eighth full.
func (t *shard) removeAt(i int) {
	mask := len(t.slots) - 1
	for j := (i + 1) & mask; t.slots[j].Version != 0; j = (j + 1) & mask {
		// A search for a record whose home lies cyclically in (i, j]
		// finds it before reaching the hole. Any other record moves
		// into the hole, and the hole moves to j.
		home := t.home(hash(t.seed, t.slots[j].Digest))
		if cyclicallyWithin(home, i, j) {
			continue
		}
		t.slots[i] = t.slots[j]
		i = j
	}
	t.slots[i] = apitoken.Record{}
	t.count--
	if t.count == 0 {
		t.slots = nil
	} else if len(t.slots) > minSlots && t.count*8 < len(t.slots) {
		t.resize(len(t.slots) / 2)
	}
}

// cyclicallyWithin reports whether x lies in (lo, hi] on a ring of slots.
func cyclicallyWithin(x, lo, hi int) bool {
	if lo <= hi {
		return lo < x && x <= hi
	}
	return lo < x || x <= hi
}

func (t *shard) resize(n int) {
	old := t.slots
	t.slots = make([]apitoken.Record, n)
	t.count = 0
	for i := range old {
		if old[i].Version != 0 {
			t.put(&old[i], hash(t.seed, old[i].Digest))
		}
	}
}
