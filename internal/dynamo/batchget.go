package dynamo

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/cirasync/dsubilling/internal/dsu"
)

// maxBatchGetKeys is how many keys one BatchGetItem takes.
const maxBatchGetKeys = 100

// batchGet reads the items of keys with consistent reads, 100 keys per
// BatchGetItem, and calls each for every item found (in no particular
// order; keys with no item are left out). Keys DynamoDB leaves unprocessed
// are asked again after a backoff, so a busy table costs more requests
// only when it is busy. what names the read in errors.
func (s *Store) batchGet(ctx context.Context, what string, keys []item, each func(item) error) error {
	for start := 0; start < len(keys); start += maxBatchGetKeys {
		chunk := keys[start:min(start+maxBatchGetKeys, len(keys))]
		req := map[string]types.KeysAndAttributes{s.opts.Table: {Keys: chunk, ConsistentRead: aws.Bool(true)}}
		for attempt := 1; len(req) > 0; attempt++ {
			out, err := s.api.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
			if err != nil {
				return storageErr(err, what)
			}
			for _, it := range out.Responses[s.opts.Table] {
				if err := each(it); err != nil {
					return err
				}
			}
			req = out.UnprocessedKeys
			if len(req) > 0 {
				if attempt >= s.opts.MaxAttempts {
					return dsu.Errorf(dsu.KindUpstreamUnavailable, "the database is too busy to %s; try again", what)
				}
				if err := backoff(ctx, attempt); err != nil {
					return storageErr(err, what)
				}
			}
		}
	}
	return nil
}
