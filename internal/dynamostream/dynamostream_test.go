package dynamostream

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

func TestRoundTrip(t *testing.T) {
	item := map[string]types.AttributeValue{
		"pk":    &types.AttributeValueMemberS{Value: "P#p1"},
		"units": &types.AttributeValueMemberN{Value: "-42"},
		"on":    &types.AttributeValueMemberBOOL{Value: true},
		"blob":  &types.AttributeValueMemberB{Value: []byte{1, 2}},
		"ss":    &types.AttributeValueMemberSS{Value: []string{"a", "b"}},
		"ns":    &types.AttributeValueMemberNS{Value: []string{"1"}},
		"null":  &types.AttributeValueMemberNULL{Value: true},
		"m": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
			"l": &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberS{Value: "x"}}},
		}},
	}
	back, err := ToSDK(FromSDK(item))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, item) {
		t.Fatalf("round trip changed the item:\n%#v\n%#v", back, item)
	}
}

// TestStreamJSON decodes a record as Lambda delivers it.
func TestStreamJSON(t *testing.T) {
	raw := `{"eventName":"MODIFY","dynamodb":{"NewImage":{"type":{"S":"balance"},"units":{"N":"-5"},"arStatus":{"S":"active"}}}}`
	var rec events.DynamoDBEventRecord
	if err := json.Unmarshal([]byte(raw), &rec); err != nil {
		t.Fatal(err)
	}
	item, err := ToSDK(rec.Change.NewImage)
	if err != nil {
		t.Fatal(err)
	}
	if n := item["units"].(*types.AttributeValueMemberN).Value; n != "-5" {
		t.Fatalf("units %s", n)
	}
}

func TestMatches(t *testing.T) {
	rec := events.DynamoDBEventRecord{EventName: "MODIFY", Change: events.DynamoDBStreamRecord{
		NewImage: map[string]events.DynamoDBAttributeValue{
			"type":     events.NewStringAttribute("balance"),
			"arStatus": events.NewStringAttribute("active"),
			"units":    events.NewNumberAttribute("10"),
		},
	}}
	cases := []struct {
		pattern string
		want    bool
	}{
		{`{"dynamodb":{"NewImage":{"type":{"S":["balance"]}}}}`, true},
		{`{"dynamodb":{"NewImage":{"type":{"S":["balance"]},"arStatus":{"S":["active"]}}}}`, true},
		{`{"dynamodb":{"NewImage":{"type":{"S":["balance"]},"arStatus":{"S":["paused"]}}}}`, false},
		{`{"eventName":["INSERT","MODIFY"]}`, true},
		{`{"eventName":["REMOVE"]}`, false},
		{`{"dynamodb":{"NewImage":{"units":{"N":["10"]}}}}`, true},
		{`{"dynamodb":{"NewImage":{"gsi1pk":[{"exists":false}]}}}`, true},
		{`{"dynamodb":{"NewImage":{"units":[{"exists":true}]}}}`, true},
		{`{"dynamodb":{"OldImage":{"type":{"S":["balance"]}}}}`, false},
	}
	for _, c := range cases {
		got, err := Matches(c.pattern, rec)
		if err != nil || got != c.want {
			t.Errorf("%s: %v %v, want %v", c.pattern, got, err, c.want)
		}
	}
	if _, err := Matches(`{"dynamodb":{"NewImage":{"units":{"N":[{"numeric":["<",0]}]}}}}`, rec); err == nil {
		t.Error("an unsupported operator was accepted")
	}
}
