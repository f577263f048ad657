package dsu

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"time"
)

// Clock tells the time. Use cases take one so tests are deterministic.
type Clock interface{ Now() time.Time }

// SystemClock is the real clock, in UTC.
type SystemClock struct{}

func (SystemClock) Now() time.Time { return time.Now().UTC() }

// IDGenerator issues new ids. Ids sort by creation time, so storage can list
// things newest first by key.
type IDGenerator interface{ NewID(prefix string) string }

// crockford is Crockford's base32 alphabet: sortable, no ambiguous letters.
const crockford = "0123456789abcdefghjkmnpqrstvwxyz"

// RandomIDs issues ULID-style ids: prefix + 48-bit millisecond time + 80
// random bits, 26 base32 characters that sort by time.
type RandomIDs struct{ Clock Clock }

func (g RandomIDs) NewID(prefix string) string {
	var b [16]byte
	ms := uint64(g.Clock.Now().UnixMilli())
	binary.BigEndian.PutUint64(b[:8], ms<<16)
	if _, err := rand.Read(b[6:]); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err)) // never happens on supported platforms
	}
	return prefix + encode128(b)
}

func encode128(b [16]byte) string {
	hi := binary.BigEndian.Uint64(b[:8])
	lo := binary.BigEndian.Uint64(b[8:])
	var out [26]byte
	for i := 25; i >= 0; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}

// Sleep waits for d or until ctx is done, whichever comes first: retries
// and pacing must stop waiting when the invocation's time is up.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
