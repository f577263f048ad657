// Package dsutest holds deterministic stand-ins for the clock and the id
// generator, for tests only.
package dsutest

import (
	"fmt"
	"sync"
	"time"
)

// SequentialIDs issues prefix + a zero-padded counter: deterministic ids
// that still sort in creation order, like the real ones.
type SequentialIDs struct {
	mu sync.Mutex
	n  int
}

func (g *SequentialIDs) NewID(prefix string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.n++
	return fmt.Sprintf("%s%010d", prefix, g.n)
}

// FixedClock is a settable clock.
type FixedClock struct {
	mu sync.Mutex
	t  time.Time
}

// NewFixedClock starts at t.
func NewFixedClock(t time.Time) *FixedClock { return &FixedClock{t: t.UTC()} }

func (c *FixedClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set moves the clock to t.
func (c *FixedClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t.UTC()
}

// Advance moves the clock forward by d.
func (c *FixedClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
