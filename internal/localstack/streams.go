package localstack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cirasync/dsubilling/internal/dynamo"
	"github.com/cirasync/dsubilling/internal/dynamostream"
)

// StreamTap stands in front of the DynamoDB endpoint and turns every write
// into stream records with old and new images, the way DynamoDB Streams
// (NEW_AND_OLD_IMAGES) would. Writes pass through one at a time, so the
// records of each item come out in the order the writes happened.
type StreamTap struct {
	next   http.Handler     // the real endpoint
	reader *dynamodb.Client // reads images from the real endpoint
	table  string
	emit   func([]events.DynamoDBEventRecord)
	log    *slog.Logger
	clock  func() time.Time

	mu  sync.Mutex // serializes writes with their image reads
	seq int64
}

// NewStreamTap wraps next (the DynamoDB endpoint reachable at nextURL).
func NewStreamTap(next http.Handler, nextURL, table string, emit func([]events.DynamoDBEventRecord), log *slog.Logger) *StreamTap {
	return &StreamTap{next: next, reader: dynamo.NewEndpointClient(nextURL), table: table, emit: emit, log: log, clock: time.Now}
}

// writeOps are the operations that change items.
var writeOps = map[string]bool{"PutItem": true, "UpdateItem": true, "DeleteItem": true, "TransactWriteItems": true, "BatchWriteItem": true}

func (t *StreamTap) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	op := req.Header.Get("X-Amz-Target")
	op = op[strings.LastIndex(op, ".")+1:]
	if !writeOps[op] {
		t.next.ServeHTTP(w, req)
		return
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	keys, err := writtenKeys(op, body, t.table)
	if err != nil {
		t.log.Warn("stream emulation cannot read a write; it passes without records", "op", op, "error", err.Error())
		t.next.ServeHTTP(w, req)
		return
	}

	t.mu.Lock()
	defer t.mu.Unlock()
	ctx := req.Context()
	before := t.images(ctx, keys)
	rec := httptest.NewRecorder()
	t.next.ServeHTTP(rec, req)
	if rec.Code == http.StatusOK {
		after := t.images(ctx, keys)
		if records := t.records(keys, before, after); len(records) > 0 {
			t.emit(records)
		}
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// images reads the current item of each key (nil when absent), in one
// BatchGetItem per 100 keys: a write holds the tap while it reads them.
func (t *StreamTap) images(ctx context.Context, keys []map[string]types.AttributeValue) []map[string]types.AttributeValue {
	out := make([]map[string]types.AttributeValue, len(keys))
	index := make(map[string]int, len(keys))
	for i, k := range keys {
		index[keyID(k)] = i
	}
	for start := 0; start < len(keys); start += 100 {
		req := map[string]types.KeysAndAttributes{t.table: {Keys: keys[start:min(start+100, len(keys))], ConsistentRead: aws.Bool(true)}}
		for len(req) > 0 {
			resp, err := t.reader.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
			if err != nil {
				t.log.Warn("stream emulation: image read failed", "error", err.Error())
				break
			}
			for _, it := range resp.Responses[t.table] {
				if i, ok := index[keyID(it)]; ok {
					out[i] = it
				}
			}
			req = resp.UnprocessedKeys
		}
	}
	return out
}

// keyID identifies an item by its key attributes.
func keyID(it map[string]types.AttributeValue) string {
	var id []string
	for _, name := range []string{dynamo.Schema.PartitionKey, dynamo.Schema.SortKey} {
		if v, ok := it[name].(*types.AttributeValueMemberS); ok {
			id = append(id, v.Value)
		}
	}
	return strings.Join(id, "\x00")
}

func (t *StreamTap) records(keys, before, after []map[string]types.AttributeValue) []events.DynamoDBEventRecord {
	var out []events.DynamoDBEventRecord
	now := t.clock()
	for i, k := range keys {
		old, cur := before[i], after[i]
		if reflect.DeepEqual(old, cur) {
			continue // a failed condition or a no-op: DynamoDB emits nothing
		}
		name := "MODIFY"
		switch {
		case old == nil:
			name = "INSERT"
		case cur == nil:
			name = "REMOVE"
		}
		t.seq++
		size, _ := json.Marshal(cur)
		out = append(out, events.DynamoDBEventRecord{
			AWSRegion:      "local",
			EventID:        fmt.Sprintf("local-%d", t.seq),
			EventName:      name,
			EventSource:    "aws:dynamodb",
			EventVersion:   "1.1",
			EventSourceArn: "arn:aws:dynamodb:local:000000000000:table/" + t.table + "/stream/local",
			Change: events.DynamoDBStreamRecord{
				ApproximateCreationDateTime: events.SecondsEpochTime{Time: now},
				Keys:                        dynamostream.FromSDK(k),
				OldImage:                    dynamostream.FromSDK(old),
				NewImage:                    dynamostream.FromSDK(cur),
				SequenceNumber:              fmt.Sprintf("%021d", t.seq),
				SizeBytes:                   int64(len(size)),
				StreamViewType:              "NEW_AND_OLD_IMAGES",
			},
		})
	}
	return out
}

// writtenKeys extracts the keys of the table's items a write request
// touches, in request order, without duplicates.
func writtenKeys(op string, body []byte, table string) ([]map[string]types.AttributeValue, error) {
	var req struct {
		TableName     string
		Item          map[string]json.RawMessage
		Key           map[string]json.RawMessage
		TransactItems []struct {
			Put *struct {
				TableName string
				Item      map[string]json.RawMessage
			}
			Update *struct {
				TableName string
				Key       map[string]json.RawMessage
			}
			Delete *struct {
				TableName string
				Key       map[string]json.RawMessage
			}
		}
		RequestItems map[string][]struct {
			PutRequest    *struct{ Item map[string]json.RawMessage }
			DeleteRequest *struct{ Key map[string]json.RawMessage }
		}
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, err
	}
	var raw []map[string]json.RawMessage
	switch op {
	case "PutItem":
		if req.TableName == table {
			raw = append(raw, req.Item)
		}
	case "UpdateItem", "DeleteItem":
		if req.TableName == table {
			raw = append(raw, req.Key)
		}
	case "TransactWriteItems":
		for _, ti := range req.TransactItems {
			switch {
			case ti.Put != nil && ti.Put.TableName == table:
				raw = append(raw, ti.Put.Item)
			case ti.Update != nil && ti.Update.TableName == table:
				raw = append(raw, ti.Update.Key)
			case ti.Delete != nil && ti.Delete.TableName == table:
				raw = append(raw, ti.Delete.Key)
			}
		}
	case "BatchWriteItem":
		for _, wr := range req.RequestItems[table] {
			switch {
			case wr.PutRequest != nil:
				raw = append(raw, wr.PutRequest.Item)
			case wr.DeleteRequest != nil:
				raw = append(raw, wr.DeleteRequest.Key)
			}
		}
	}
	var keys []map[string]types.AttributeValue
	seen := map[string]bool{}
	for _, attrs := range raw {
		k, id, err := keyOf(attrs)
		if err != nil {
			return nil, err
		}
		if !seen[id] {
			seen[id] = true
			keys = append(keys, k)
		}
	}
	return keys, nil
}

// keyOf reads the pk/sk string attributes from wire-format attributes.
func keyOf(attrs map[string]json.RawMessage) (map[string]types.AttributeValue, string, error) {
	k := map[string]types.AttributeValue{}
	var id []string
	for _, name := range []string{dynamo.Schema.PartitionKey, dynamo.Schema.SortKey} {
		var v struct{ S *string }
		if err := json.Unmarshal(attrs[name], &v); err != nil || v.S == nil {
			return nil, "", fmt.Errorf("key attribute %s is not a string", name)
		}
		k[name] = &types.AttributeValueMemberS{Value: *v.S}
		id = append(id, *v.S)
	}
	return k, strings.Join(id, "\x00"), nil
}
