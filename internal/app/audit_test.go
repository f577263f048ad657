package app_test

import (
	"context"
	"testing"

	"github.com/cirasync/dsubilling/internal/app"
	"github.com/cirasync/dsubilling/internal/dsu"
)

// The audit log lists newest first, one query per page, with cursors.
func TestAuditLogPages(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	p := w.partner("p1", "")
	adm := w.admin()
	for i, key := range []string{"k1", "k2", "k3"} {
		w.clock.Advance(1)
		if _, _, err := adm.Adjust(ctx, "p1", key, dsu.Adjustment{Units: int64(i + 1), Reason: "test " + key}, operatorActor); err != nil {
			t.Fatal(err)
		}
	}
	log := &app.AuditLog{Store: w.store}
	w.api.Reset()
	page, next, err := log.List(ctx, p, dsu.Page{Limit: 2})
	if err != nil || len(page) != 2 || next == "" || page[0].Details["units"] != float64(3) || page[1].Details["units"] != float64(2) {
		t.Fatalf("first page %+v %q %v", page, next, err)
	}
	if c := w.api.Counts(); c.Reads != 1 {
		t.Errorf("%d reads for a page of the audit log, want 1", c.Reads)
	}
	rest, next, err := log.List(ctx, p, dsu.Page{Limit: 2, Cursor: next})
	if err != nil || len(rest) != 1 || next != "" || rest[0].Details["units"] != float64(1) {
		t.Fatalf("last page %+v %q %v", rest, next, err)
	}
	// Another partner's cursor and log are not this partner's.
	other := w.partner("p2", "")
	if evs, _, _ := log.List(ctx, other, dsu.Page{Limit: 10}); len(evs) != 0 {
		t.Errorf("p2 sees %d of p1's events", len(evs))
	}
}
