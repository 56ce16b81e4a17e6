import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';

/** Properties of {@link IdempotencyTable}. */
export interface IdempotencyTableProps {
  readonly stage: string;
  /** Keep the table when the stack is deleted. */
  readonly retain: boolean;
}

/**
 * The idempotency store `alchemiser-idempotency-<stage>`: one item per handled event, keyed by
 * `pk`, written with a conditional put so that a duplicate delivery (at-least-once EventBridge,
 * Lambda async retries, replays) is skipped. Items expire through the TTL attribute `expires_at`.
 */
export class IdempotencyTable extends Construct {
  /** The item operations a conditional-write idempotency store uses, and nothing else (no Scan, no batch). */
  public static readonly ITEM_ACTIONS: readonly string[] = [
    'dynamodb:GetItem',
    'dynamodb:PutItem',
    'dynamodb:UpdateItem',
    'dynamodb:DeleteItem',
  ];

  public readonly table: dynamodb.Table;

  constructor(scope: Construct, id: string, props: IdempotencyTableProps) {
    super(scope, id);
    this.table = new dynamodb.Table(this, 'Table', {
      tableName: `alchemiser-idempotency-${props.stage}`,
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      timeToLiveAttribute: 'expires_at',
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST, // a handful of writes a day
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      removalPolicy: props.retain ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
  }

  /** Grants the idempotency item operations on this table's ARN only. */
  public grantIdempotencyStore(role: iam.IRole): void {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'IdempotencyStore',
        actions: [...IdempotencyTable.ITEM_ACTIONS],
        resources: [this.table.tableArn],
      }),
    );
  }
}
