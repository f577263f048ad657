package dynamo

import "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

// LeadWithUnrelatedItem makes every transaction of s start with a write of
// an item no caller knows about, so tests can check that a failed condition
// is still reported as the failure of the item it belongs to.
func LeadWithUnrelatedItem(s *Store) {
	s.leadingItems = func() []txItem {
		it := withKey(item{}, key("TEST#unrelated", "TEST"))
		it[AttrType] = avS("test")
		return []txItem{{write: types.TransactWriteItem{Put: &types.Put{TableName: &s.opts.Table, Item: it}}}}
	}
}
