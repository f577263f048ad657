package dynamostream

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-lambda-go/events"
)

// Matches evaluates a Lambda event filter pattern against a stream record,
// for the local stack to filter exactly as the deployed event source mapping
// does. It supports the parts of the pattern language this project uses:
// nested objects, arrays of literal values, and {"exists": bool}. Any other
// operator is an error, so a pattern can never be silently read differently
// here than in AWS.
func Matches(pattern string, record events.DynamoDBEventRecord) (bool, error) {
	var p map[string]any
	if err := json.Unmarshal([]byte(pattern), &p); err != nil {
		return false, fmt.Errorf("filter pattern: %w", err)
	}
	raw, err := json.Marshal(record)
	if err != nil {
		return false, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var ev map[string]any
	if err := dec.Decode(&ev); err != nil {
		return false, err
	}
	return matchObject(p, ev)
}

func matchObject(pattern map[string]any, ev map[string]any) (bool, error) {
	for k, want := range pattern {
		got, present := ev[k]
		switch w := want.(type) {
		case map[string]any:
			sub, ok := got.(map[string]any)
			if !ok {
				return false, nil
			}
			if m, err := matchObject(w, sub); err != nil || !m {
				return m, err
			}
		case []any:
			m, err := matchValues(w, got, present)
			if err != nil || !m {
				return m, err
			}
		default:
			return false, fmt.Errorf("filter pattern: %s must be an object or an array", k)
		}
	}
	return true, nil
}

func matchValues(allowed []any, got any, present bool) (bool, error) {
	for _, a := range allowed {
		switch v := a.(type) {
		case map[string]any:
			exists, ok := v["exists"].(bool)
			if len(v) != 1 || !ok {
				return false, fmt.Errorf("filter pattern: unsupported operator %v", v)
			}
			if exists == present {
				return true, nil
			}
		default:
			if present && fmt.Sprint(v) == fmt.Sprint(got) {
				return true, nil
			}
		}
	}
	return false, nil
}
