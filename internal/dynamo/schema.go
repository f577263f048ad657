// Package dynamo is the DynamoDB adapter: the one table (docs/RULES.md,
// "DynamoDB"), its item types, and the store the use cases persist through.
package dynamo

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Attribute and index names of the table. Everything that creates the table
// (the CDK stack, the local stack, the tests) reads them from Schema.
const (
	AttrPK        = "pk"
	AttrSK        = "sk"
	AttrGSI1PK    = "gsi1pk"
	AttrGSI1SK    = "gsi1sk"
	AttrExpiresAt = "expiresAt" // epoch seconds; DynamoDB TTL deletes the item
	AttrType      = "type"      // item type, for stream filters and operators
	IndexGSI1     = "gsi1"
)

// TableSchema describes the table in provider-neutral terms.
type TableSchema struct {
	PartitionKey, SortKey string
	// GSI is sparse: only items that need the sweep's attention carry its keys.
	GSIName, GSIPartitionKey, GSISortKey string
	TTLAttribute                         string
	StreamView                           string // NEW_AND_OLD_IMAGES
}

// Schema is the table's definition, defined once.
var Schema = TableSchema{
	PartitionKey:    AttrPK,
	SortKey:         AttrSK,
	GSIName:         IndexGSI1,
	GSIPartitionKey: AttrGSI1PK,
	GSISortKey:      AttrGSI1SK,
	TTLAttribute:    AttrExpiresAt,
	StreamView:      string(types.StreamViewTypeNewAndOldImages),
}

// CreateTableInput is the CreateTable request for the schema: on-demand, with
// the sparse GSI and the stream. TTL and point-in-time recovery are separate
// API calls (and CDK properties); the local emulator supports neither.
func CreateTableInput(table string) *dynamodb.CreateTableInput {
	s := Schema
	str := types.ScalarAttributeTypeS
	return &dynamodb.CreateTableInput{
		TableName:   aws.String(table),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(s.PartitionKey), AttributeType: str},
			{AttributeName: aws.String(s.SortKey), AttributeType: str},
			{AttributeName: aws.String(s.GSIPartitionKey), AttributeType: str},
			{AttributeName: aws.String(s.GSISortKey), AttributeType: str},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(s.PartitionKey), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(s.SortKey), KeyType: types.KeyTypeRange},
		},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{
			IndexName: aws.String(s.GSIName),
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String(s.GSIPartitionKey), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String(s.GSISortKey), KeyType: types.KeyTypeRange},
			},
			// The sweep reads only keys from the index, then the item itself.
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeKeysOnly},
		}},
		StreamSpecification: &types.StreamSpecification{
			StreamEnabled:  aws.Bool(true),
			StreamViewType: types.StreamViewType(s.StreamView),
		},
	}
}

// RefillStreamFilter is the Lambda event filter of the autorefill stream
// trigger: balance items whose automated plan is active, the only records
// that can start a refill. The CDK stack installs it on the event source
// mapping and the local stack filters its emulated stream with it.
const RefillStreamFilter = `{"dynamodb":{"NewImage":{"type":{"S":["balance"]},"arStatus":{"S":["active"]}}}}`
