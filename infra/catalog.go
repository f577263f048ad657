package main

import (
	"fmt"
	"sort"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/customresources"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/jsii-runtime-go"

	"github.com/cirasync/dsubilling/internal/catalog"
	"github.com/cirasync/dsubilling/internal/dynamo"
)

// CatalogItems is the package catalog (internal/catalog/packages.json) as
// DynamoDB JSON items, rendered by dynamo.CatalogItems exactly as the local
// stack writes them: the package items and the pointer to their version.
func CatalogItems() (packages []map[string]interface{}, pointer map[string]interface{}, err error) {
	c, err := catalog.Default()
	if err != nil {
		return nil, nil, fmt.Errorf("catalog: %w", err)
	}
	pkgs, ptr := dynamo.CatalogItems(c)
	for _, it := range pkgs {
		m, err := itemJSON(it)
		if err != nil {
			return nil, nil, err
		}
		packages = append(packages, m)
	}
	pointer, err = itemJSON(ptr)
	return packages, pointer, err
}

// seedCatalog writes every catalog item with one PutItem each on deployment,
// then the pointer to the catalog's version, after all of them. Each item is
// part of its custom resource's properties, so CloudFormation writes it
// again whenever the data file changes it. Packages that left the file keep
// their old version and so stop being sold (see internal/dynamo/catalog.go).
//
// The custom resources' one provider function runs with a role of its own
// that writes only its own log group (instead of the default role with
// AWSLambdaBasicExecutionRole, which may write every log group) and may
// only put items into the table.
func seedCatalog(stack awscdk.Stack, table awsdynamodb.Table, removal awscdk.RemovalPolicy, retention awslogs.RetentionDays) error {
	items, pointer, err := CatalogItems()
	if err != nil {
		return err
	}
	logs := awslogs.NewLogGroup(stack, jsii.String("CatalogSeedLogs"), &awslogs.LogGroupProps{
		Retention:     retention,
		RemovalPolicy: removal,
	})
	role := awsiam.NewRole(stack, jsii.String("CatalogSeedRole"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("DSU Billing catalog seeding at deployment (PutItem of the packages)"),
	})
	logs.GrantWrite(role)
	put := func(id, resourceType string, item map[string]interface{}) customresources.AwsCustomResource {
		call := &customresources.AwsSdkCall{
			Service: jsii.String("DynamoDB"),
			Action:  jsii.String("PutItem"),
			Parameters: map[string]interface{}{
				"TableName": table.TableName(),
				"Item":      item,
			},
			PhysicalResourceId: customresources.PhysicalResourceId_Of(jsii.String(id)),
		}
		return customresources.NewAwsCustomResource(stack, jsii.String(id), &customresources.AwsCustomResourceProps{
			ResourceType:        jsii.String(resourceType),
			OnCreate:            call,
			OnUpdate:            call,
			InstallLatestAwsSdk: jsii.Bool(false),
			Role:                role,
			LogGroup:            logs,
			Policy: customresources.AwsCustomResourcePolicy_FromStatements(&[]awsiam.PolicyStatement{
				awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
					Actions:   jsii.Strings("dynamodb:PutItem"),
					Resources: &[]*string{table.TableArn()},
				}),
			}),
		})
	}
	version := put("CatalogVersion", "Custom::CatalogVersion", pointer)
	for _, item := range items {
		id := item["id"].(map[string]interface{})["S"].(string)
		version.Node().AddDependency(put("CatalogPackage-"+id, "Custom::CatalogPackage", item))
	}
	return nil
}

// itemJSON renders an item as DynamoDB JSON ({"S": …}, {"N": …}, {"M": …}).
func itemJSON(item map[string]types.AttributeValue) (map[string]interface{}, error) {
	out := make(map[string]interface{}, len(item))
	keys := make([]string, 0, len(item))
	for k := range item {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v, err := attrJSON(item[k])
		if err != nil {
			return nil, fmt.Errorf("attribute %s: %w", k, err)
		}
		out[k] = v
	}
	return out, nil
}

func attrJSON(av types.AttributeValue) (map[string]interface{}, error) {
	switch v := av.(type) {
	case *types.AttributeValueMemberS:
		return map[string]interface{}{"S": v.Value}, nil
	case *types.AttributeValueMemberN:
		return map[string]interface{}{"N": v.Value}, nil
	case *types.AttributeValueMemberBOOL:
		return map[string]interface{}{"BOOL": v.Value}, nil
	case *types.AttributeValueMemberNULL:
		return map[string]interface{}{"NULL": true}, nil
	case *types.AttributeValueMemberSS:
		return map[string]interface{}{"SS": v.Value}, nil
	case *types.AttributeValueMemberNS:
		return map[string]interface{}{"NS": v.Value}, nil
	case *types.AttributeValueMemberM:
		m, err := itemJSON(v.Value)
		if err != nil {
			return nil, err
		}
		return map[string]interface{}{"M": m}, nil
	case *types.AttributeValueMemberL:
		l := make([]interface{}, 0, len(v.Value))
		for _, e := range v.Value {
			j, err := attrJSON(e)
			if err != nil {
				return nil, err
			}
			l = append(l, j)
		}
		return map[string]interface{}{"L": l}, nil
	default:
		return nil, fmt.Errorf("unsupported attribute value %T", av)
	}
}
