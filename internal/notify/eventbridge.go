// Package notify publishes domain events to EventBridge, where notification
// and CRM systems subscribe. This system sends no email itself.
package notify

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/cirasync/dsubilling/internal/app"
	"github.com/cirasync/dsubilling/internal/awsjson"
)

// Source is the EventBridge source of every event.
const Source = "dsu-billing"

// EventBridge publishes to one event bus.
type EventBridge struct {
	Client *awsjson.Client // service "events", target prefix "AWSEvents"
	Bus    string
	Log    *slog.Logger
}

// Publish puts one event. Failures are logged, never returned: the money
// path that caused the event has already committed.
func (e *EventBridge) Publish(ctx context.Context, ev app.DomainEvent) {
	detail, _ := json.Marshal(ev)
	in := map[string]any{"Entries": []map[string]any{{
		"EventBusName": e.Bus, "Source": Source, "DetailType": string(ev.Type), "Detail": string(detail),
	}}}
	var out struct {
		FailedEntryCount int `json:"FailedEntryCount"`
		Entries          []struct {
			ErrorCode    string `json:"ErrorCode"`
			ErrorMessage string `json:"ErrorMessage"`
		} `json:"Entries"`
	}
	err := e.Client.Call(ctx, "PutEvents", in, &out)
	if err == nil && out.FailedEntryCount > 0 && len(out.Entries) > 0 {
		e.Log.ErrorContext(ctx, "domain event rejected by EventBridge", "type", string(ev.Type), "partner", ev.PartnerID, "code", out.Entries[0].ErrorCode)
		return
	}
	if err != nil {
		e.Log.ErrorContext(ctx, "domain event not published", "type", string(ev.Type), "partner", ev.PartnerID, "error", err.Error())
	}
}
