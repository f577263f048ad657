package dynamo

import (
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/cirasync/dsubilling/internal/dsu"
)

// rateCounterRetention is how long a window's counter outlives its window
// before TTL removes it.
const rateCounterRetention = 24 * 3600

// countWithin is the transaction item that counts one event of a partner
// against limit in the current window, and fails (limit.Exceeded) when the
// window already holds limit.Max. It rides in the transaction of the work
// it limits: a refused request writes nothing, and a replayed one (whose
// earlier item fails first) is not counted.
func (s *Store) countWithin(partnerID string, limit dsu.RateLimit) txItem {
	now := s.now()
	window := limit.WindowOf(now)
	k := key(partnerPK(partnerID), "RATE#"+limit.Name+"#"+strconv.FormatInt(window.Unix(), 10))
	return txItem{
		write: types.TransactWriteItem{Update: &types.Update{
			TableName:                 aws.String(s.opts.Table),
			Key:                       k,
			UpdateExpression:          aws.String("ADD n :one SET #type = :type, " + AttrExpiresAt + " = :exp"),
			ConditionExpression:       aws.String("attribute_not_exists(n) OR n < :max"),
			ExpressionAttributeNames:  map[string]string{"#type": AttrType},
			ExpressionAttributeValues: item{":one": avN(1), ":max": avN(int64(limit.Max)), ":type": avS(typeRate), ":exp": avN(window.Add(limit.Window).Unix() + rateCounterRetention)},
		}},
		failed: limit.Exceeded(now),
	}
}
