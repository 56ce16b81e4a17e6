import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { DYNAMODB_DEFAULT_ENCRYPTION } from './idempotency-table';
import { skipCheckov } from './template-checks';

/** Properties of {@link WorkflowLedgerTable}. */
export interface WorkflowLedgerTableProps {
  readonly stage: string;
  /** Keep the table when the stack is deleted. */
  readonly retain: boolean;
}

/**
 * The workflow ledger `alchemiser-workflow-ledger-<stage>` the monitor keeps: under each
 * workflow's correlation id (`pk`), one item per event, dead letter, timeout or shadow record
 * (`sk`), and a summary. The `by_start` index lists workflows by start time (`gsi1pk` =
 * `workflow`, `gsi1sk` = start time), for `alchemiser workflows`; the sparse `open_by_start`
 * index (`gsi2pk` = `open`, `gsi2sk` = start time, only on summaries of workflows that have not
 * ended) is what the sweep reads every five minutes. Items expire
 * through the TTL attribute `expires_at` (LEDGER_RETENTION_DAYS). Layout:
 * lib/ledger/src/store/dynamodb.rs.
 */
export class WorkflowLedgerTable extends Construct {
  /** Name of the index that lists workflows by start time. */
  public static readonly BY_START_INDEX = 'by_start';
  /** Name of the sparse index of the open workflows, by start time. */
  public static readonly OPEN_BY_START_INDEX = 'open_by_start';

  public readonly table: dynamodb.Table;

  constructor(scope: Construct, id: string, props: WorkflowLedgerTableProps) {
    super(scope, id);
    this.table = new dynamodb.Table(this, 'Table', {
      tableName: `alchemiser-workflow-ledger-${props.stage}`,
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
      timeToLiveAttribute: 'expires_at',
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST, // a few dozen writes per workflow
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      removalPolicy: props.retain ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
    this.table.addGlobalSecondaryIndex({
      indexName: WorkflowLedgerTable.BY_START_INDEX,
      partitionKey: { name: 'gsi1pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'gsi1sk', type: dynamodb.AttributeType.STRING },
      projectionType: dynamodb.ProjectionType.ALL,
    });
    this.table.addGlobalSecondaryIndex({
      indexName: WorkflowLedgerTable.OPEN_BY_START_INDEX,
      partitionKey: { name: 'gsi2pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'gsi2sk', type: dynamodb.AttributeType.STRING },
      projectionType: dynamodb.ProjectionType.ALL,
    });
    skipCheckov(this.table, DYNAMODB_DEFAULT_ENCRYPTION);
  }

  /** The monitor: reads and writes entries and summaries, and queries the by-start index. */
  public grantKeepLedger(role: iam.IRole): void {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'KeepWorkflowLedger',
        actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:Query'],
        resources: [this.table.tableArn],
      }),
    );
    // An index only answers queries; the item actions above would mean nothing on it.
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ListWorkflowsByStart',
        actions: ['dynamodb:Query'],
        resources: [`${this.table.tableArn}/index/${WorkflowLedgerTable.BY_START_INDEX}`],
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'SweepOpenWorkflows',
        actions: ['dynamodb:Query'],
        resources: [`${this.table.tableArn}/index/${WorkflowLedgerTable.OPEN_BY_START_INDEX}`],
      }),
    );
  }

  /** The operator (`alchemiser workflows`, the console): reads entries and summaries, queries both indexes. Never writes. */
  public grantReadLedger(role: iam.IRole): void {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ReadWorkflowLedger',
        actions: ['dynamodb:GetItem', 'dynamodb:Query'],
        resources: [
          this.table.tableArn,
          `${this.table.tableArn}/index/${WorkflowLedgerTable.BY_START_INDEX}`,
          `${this.table.tableArn}/index/${WorkflowLedgerTable.OPEN_BY_START_INDEX}`,
        ],
      }),
    );
  }

  /** A function in shadow mode: records what it would have emitted under the workflow, reads it back. */
  public grantRecordShadow(role: iam.IRole): void {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'RecordShadowOutcomesInLedger',
        actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:Query'],
        resources: [this.table.tableArn],
      }),
    );
  }
}
