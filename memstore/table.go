package memstore

import (
	"encoding/binary"
	"sync"
	"time"

	"github.com/apitoken/apitoken"
)

// shard is an open-addressing hash table of records keyed by digest, with
// linear probing. Each slot holds, in 128 bytes, the fields that
// verification reads, and points to the full record. With a million
// records, each read of another random address costs a cache and TLB miss
// of a few hundred nanoseconds, as much as the rest of a verification, so
// a verification should read one slot and nothing else.
//
// Reads that hold only the shard's lock must copy what they need before
// releasing it, because a change moves slots.
type shard struct {
	mu sync.RWMutex
	// slots has a power-of-two length, or is nil while the shard is
	// empty.
	slots []slot
	count int
}

// slot is one entry of a shard. Its first cache line holds what a probe
// compares and the owner, the second the rest of what verification reads.
// Times are kept as seconds and nanoseconds since the Unix epoch, which
// are half the size of a time.Time.
type slot struct {
	digest  apitoken.Digest
	id      string // "" in an empty slot
	ownerID string

	tenantID     string
	perms        *sharedPermissions // nil for no permissions
	rec          *apitoken.Record
	expiresSec   int64
	lastUsedSec  int64
	expiresNsec  int32
	lastUsedNsec int32
	flags        uint8
}

// Flags of a slot.
const (
	flagDisabled uint8 = 1 << iota
	flagShared
	flagBackwardCompatible
)

// newSlot returns the slot of a stored record.
func newSlot(rec *apitoken.Record, perms *sharedPermissions) slot {
	sl := slot{
		digest:   rec.Digest,
		id:       rec.ID,
		ownerID:  rec.OwnerID,
		tenantID: rec.TenantID,
		perms:    perms,
		rec:      rec,
	}
	sl.expiresSec, sl.expiresNsec = splitTime(rec.ExpiresAt)
	sl.setLastUsed(rec.LastUsedAt)
	if rec.Disabled {
		sl.flags |= flagDisabled
	}
	if rec.Shared {
		sl.flags |= flagShared
	}
	if rec.BackwardCompatible {
		sl.flags |= flagBackwardCompatible
	}
	return sl
}

func (sl *slot) setLastUsed(at time.Time) {
	sl.lastUsedSec, sl.lastUsedNsec = splitTime(at)
}

// fill sets c to what verification reads of the slot's record. It reads
// the full record only for the reason of a disabled token.
func (sl *slot) fill(c *apitoken.Credential) {
	c.ID = sl.id
	c.OwnerID = sl.ownerID
	c.TenantID = sl.tenantID
	c.Digest = sl.digest
	c.Shared = sl.flags&flagShared != 0
	c.BackwardCompatible = sl.flags&flagBackwardCompatible != 0
	c.Disabled = sl.flags&flagDisabled != 0
	c.ExpiresAt = joinTime(sl.expiresSec, sl.expiresNsec)
	c.LastUsedAt = joinTime(sl.lastUsedSec, sl.lastUsedNsec)
	if sl.perms != nil {
		c.Permissions = sl.perms.list
	}
	if c.Disabled {
		c.DisabledReason = sl.rec.DisabledReason
	}
}

func splitTime(t time.Time) (int64, int32) {
	return t.Unix(), int32(t.Nanosecond())
}

// joinTime returns the UTC instant of splitTime's result. The zero time
// comes back equal to time.Time{}, so IsZero still reports it.
func joinTime(sec int64, nsec int32) time.Time {
	return time.Unix(sec, int64(nsec)).UTC()
}

// minSlots is the number of slots of a shard that holds any record.
const minSlots = 8

// hash returns the hash of a digest: its first eight bytes. A digest is
// the SHA-256 of a random value, so its bits are already uniform, and no
// client can choose the digests of stored records to crowd one slot. A
// client can aim the lookup of an unknown digest at a chosen slot, but it
// cannot lengthen the run of full slots that the probe walks, because only
// stored records fill slots.
// Store.shard takes the low bits to pick a shard, and the shard takes the
// remaining bits for the slot.
func hash(d apitoken.Digest) uint64 {
	return binary.LittleEndian.Uint64(d[:8])
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
		case t.slots[i].id == "":
			return -1
		case t.slots[i].digest == d:
			return i
		}
	}
}

// put stores the slot, replacing one with the same digest. It grows the
// table to keep it at most three quarters full, so that probe sequences
// stay short.
func (t *shard) put(sl slot, h uint64) {
	if (t.count+1)*4 > len(t.slots)*3 {
		t.resize(max(minSlots, 2*len(t.slots)))
	}
	mask := len(t.slots) - 1
	i := t.home(h)
	for t.slots[i].id != "" && t.slots[i].digest != sl.digest {
		i = (i + 1) & mask
	}
	if t.slots[i].id == "" {
		t.count++
	}
	t.slots[i] = sl
}

// removeAt empties slot i. It then shifts back the records that follow in
// the same probe sequence, so that no search stops early at the hole. It
// shrinks the table when it is less than an eighth full.
func (t *shard) removeAt(i int) {
	mask := len(t.slots) - 1
	for j := (i + 1) & mask; t.slots[j].id != ""; j = (j + 1) & mask {
		// A search for a record whose home lies cyclically in (i, j]
		// finds it before reaching the hole. Any other record moves
		// into the hole, and the hole moves to j.
		home := t.home(hash(t.slots[j].digest))
		if cyclicallyWithin(home, i, j) {
			continue
		}
		t.slots[i] = t.slots[j]
		i = j
	}
	t.slots[i] = slot{}
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
	t.slots = make([]slot, n)
	t.count = 0
	for i := range old {
		if old[i].id != "" {
			t.put(old[i], hash(old[i].digest))
		}
	}
}
