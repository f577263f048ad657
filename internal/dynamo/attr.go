package dynamo

import (
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Item attributes are written and read by hand: every item type's layout is
// visible in one place, and nothing reflects over structs on the hot path.

type item = map[string]types.AttributeValue

// timeLayout is fixed-width so stored times sort as strings.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

func fmtTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func avS(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func avN(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}
func avBool(v bool) types.AttributeValue      { return &types.AttributeValueMemberBOOL{Value: v} }
func avTime(t time.Time) types.AttributeValue { return avS(fmtTime(t)) }

// setS sets a string attribute, leaving empty strings out (absent = empty).
func setS(it item, name, v string) {
	if v != "" {
		it[name] = avS(v)
	}
}

func setN(it item, name string, v int64) { it[name] = avN(v) }

func setTime(it item, name string, t time.Time) {
	if !t.IsZero() {
		it[name] = avTime(t)
	}
}

func setTimePtr(it item, name string, t *time.Time) {
	if t != nil {
		setTime(it, name, *t)
	}
}

// reader decodes an item, remembering the first malformed attribute so
// callers check one error at the end.
type reader struct {
	it  item
	err error
}

func (r *reader) fail(name, format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("attribute %s: %s", name, fmt.Sprintf(format, args...))
	}
}

func (r *reader) str(name string) string {
	switch v := r.it[name].(type) {
	case nil:
		return ""
	case *types.AttributeValueMemberS:
		return v.Value
	default:
		r.fail(name, "want S, have %T", v)
		return ""
	}
}

func (r *reader) num(name string) int64 {
	switch v := r.it[name].(type) {
	case nil:
		return 0
	case *types.AttributeValueMemberN:
		n, err := strconv.ParseInt(v.Value, 10, 64)
		if err != nil {
			r.fail(name, "not an int64: %q", v.Value)
		}
		return n
	default:
		r.fail(name, "want N, have %T", v)
		return 0
	}
}

func (r *reader) boolean(name string) bool {
	switch v := r.it[name].(type) {
	case nil:
		return false
	case *types.AttributeValueMemberBOOL:
		return v.Value
	default:
		r.fail(name, "want BOOL, have %T", v)
		return false
	}
}

func (r *reader) time(name string) time.Time {
	s := r.str(name)
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		r.fail(name, "not a time: %q", s)
	}
	return t.UTC()
}

func (r *reader) timePtr(name string) *time.Time {
	if t := r.time(name); !t.IsZero() {
		return &t
	}
	return nil
}

// strSet reads a string set; nil when absent.
func (r *reader) strSet(name string) []string {
	switch v := r.it[name].(type) {
	case nil:
		return nil
	case *types.AttributeValueMemberSS:
		return append([]string(nil), v.Value...)
	default:
		r.fail(name, "want SS, have %T", v)
		return nil
	}
}

// mapAt returns a reader for a map attribute, or nil when it is absent.
func (r *reader) mapAt(name string) *reader {
	switch v := r.it[name].(type) {
	case nil:
		return nil
	case *types.AttributeValueMemberM:
		return &reader{it: v.Value}
	default:
		r.fail(name, "want M, have %T", v)
		return nil
	}
}

// listAt returns readers for a list of maps.
func (r *reader) listAt(name string) []*reader {
	switch v := r.it[name].(type) {
	case nil:
		return nil
	case *types.AttributeValueMemberL:
		out := make([]*reader, 0, len(v.Value))
		for i, e := range v.Value {
			m, ok := e.(*types.AttributeValueMemberM)
			if !ok {
				r.fail(name, "element %d: want M, have %T", i, e)
				return nil
			}
			out = append(out, &reader{it: m.Value})
		}
		return out
	default:
		r.fail(name, "want L, have %T", v)
		return nil
	}
}

// merge folds a nested reader's error into r.
func (r *reader) merge(sub *reader, name string) {
	if sub != nil && sub.err != nil && r.err == nil {
		r.err = fmt.Errorf("%s.%w", name, sub.err)
	}
}
