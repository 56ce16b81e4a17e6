import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { skipCheckov, type CheckerSuppression } from './template-checks';

/** Why the stage's tables use DynamoDB's default encryption rather than a customer-managed key. */
export const DYNAMODB_DEFAULT_ENCRYPTION: CheckerSuppression = {
  id: 'CKV_AWS_119',
  reason:
    'Encrypted at rest with the DynamoDB-owned key (the default). A customer-managed key would cost a ' +
    'key and its requests per stage and add a key policy every role must pass, for no isolation: IAM ' +
    'already limits each function to its own items and nobody outside the account has access.',
};

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
 *
 * Every key a function writes starts with its own name: claims are `<function>#<event id>[#...]`
 * and leases `lease#<function>#<group>` (lib/lambda/src/invoker/consumer.rs, trigger.rs and
 * idempotency/dynamodb.rs), so each role is limited to its own keys with `dynamodb:LeadingKeys`.
 */
export class IdempotencyTable extends Construct {
  /** The item operations a conditional-write idempotency store uses, and nothing else (no Scan, no batch). */
  public static readonly ITEM_ACTIONS: readonly string[] = [
    'dynamodb:GetItem',
    'dynamodb:PutItem',
    'dynamodb:UpdateItem',
    'dynamodb:DeleteItem',
  ];

  /** The partition keys `handler` may touch: its claims and its leases. */
  public static keyPatternsOf(handler: string): string[] {
    return [`${handler}#*`, `lease#${handler}#*`];
  }

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
    skipCheckov(this.table, DYNAMODB_DEFAULT_ENCRYPTION);
  }

  /**
   * Grants the idempotency item operations on this table's ARN, for items whose partition key is
   * one of `handler`'s: one function can neither read nor overwrite another's claims. The `Null`
   * guard keeps the grant from applying to a request without a key (ForAllValues would pass it).
   */
  public grantIdempotencyStore(role: iam.IRole, handler: string): void {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'IdempotencyStoreOwnKeys',
        actions: [...IdempotencyTable.ITEM_ACTIONS],
        resources: [this.table.tableArn],
        conditions: {
          'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': IdempotencyTable.keyPatternsOf(handler) },
          Null: { 'dynamodb:LeadingKeys': 'false' },
        },
      }),
    );
  }
}
