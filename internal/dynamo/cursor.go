package dynamo

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/cirasync/dsubilling/internal/dsu"
)

// Page selects one page of a newest-first list.
type Page = dsu.Page

// Cursors are the last sort key of a page plus a MAC over the partner, the
// list and that key. A cursor from another list, another partner or with a
// changed byte is refused with 400; the partition is always the caller's.

const cursorMACLen = 16

func (s *Store) encodeCursor(partnerID, list, sk string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(sk)) + "." +
		base64.RawURLEncoding.EncodeToString(s.cursorMAC(partnerID, list, sk))
}

func (s *Store) cursorMAC(partnerID, list, sk string) []byte {
	m := hmac.New(sha256.New, s.opts.CursorKey)
	m.Write([]byte(partnerID))
	m.Write([]byte{0})
	m.Write([]byte(list))
	m.Write([]byte{0})
	m.Write([]byte(sk))
	return m.Sum(nil)[:cursorMACLen]
}

// DecodeCursor returns the sort key a cursor points after, or a
// validation error naming the cursor.
func (s *Store) decodeCursor(partnerID, list, prefix, cursor string) (string, error) {
	bad := dsu.InvalidField("cursor", "is not a cursor this API issued for this list")
	if len(cursor) > 2048 {
		return "", bad
	}
	skPart, macPart, ok := strings.Cut(cursor, ".")
	if !ok {
		return "", bad
	}
	skBytes, err1 := base64.RawURLEncoding.DecodeString(skPart)
	mac, err2 := base64.RawURLEncoding.DecodeString(macPart)
	if err1 != nil || err2 != nil {
		return "", bad
	}
	sk := string(skBytes)
	if !hmac.Equal(mac, s.cursorMAC(partnerID, list, sk)) || !strings.HasPrefix(sk, prefix) {
		return "", bad
	}
	return sk, nil
}

// list reads one page of a partner's items whose sort keys start with
// prefix, newest first. It asks for one item more than the page so the last
// page carries no cursor.
func (s *Store) list(ctx context.Context, partnerID, prefix, listName string, page Page) ([]item, string, error) {
	limit := min(max(page.Limit, 1), 100)
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.opts.Table),
		KeyConditionExpression:    aws.String("pk = :pk AND begins_with(sk, :prefix)"),
		ExpressionAttributeValues: item{":pk": avS(partnerPK(partnerID)), ":prefix": avS(prefix)},
		ScanIndexForward:          aws.Bool(false),
		Limit:                     aws.Int32(int32(limit + 1)),
	}
	if page.Cursor != "" {
		sk, err := s.decodeCursor(partnerID, listName, prefix, page.Cursor)
		if err != nil {
			return nil, "", err
		}
		in.ExclusiveStartKey = key(partnerPK(partnerID), sk)
	}
	out, err := s.api.Query(ctx, in)
	if err != nil {
		return nil, "", storageErr(err, "list "+listName)
	}
	items := out.Items
	if len(items) <= limit {
		return items, "", nil
	}
	items = items[:limit]
	last := reader{it: items[limit-1]}
	return items, s.encodeCursor(partnerID, listName, last.str(AttrSK)), nil
}
