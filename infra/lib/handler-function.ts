import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { LambdaArchitecture } from './stage-config';
import { ignoreCfnLint, skipCheckov } from './template-checks';

/** Properties of {@link HandlerFunction}. */
export interface HandlerFunctionProps {
  readonly stage: string;
  /** Handler name from the routing table (strategy, portfolio, execution, monitor). */
  readonly handler: string;
  /** `bootstrap.zip` from `scripts/build`, or a placeholder folder (see artifacts.ts). */
  readonly codePath: string;
  readonly architecture: LambdaArchitecture;
  readonly memorySize: number;
  readonly timeout: Duration;
  readonly logRetention: logs.RetentionDays;
  /** Keep the log group when the stack is deleted. */
  readonly retainLogs: boolean;
  readonly environment: Readonly<Record<string, string>>;
  /**
   * The stage's dead-letter queue: where Lambda sends an async event that still fails after its
   * retries, and where the handler records the events it refuses for good (`DEAD_LETTER_QUEUE_URL`).
   */
  readonly deadLetterQueue: sqs.IQueue;
  /** Lambda async invoke retries after a handler error (0-2). */
  readonly asyncRetryAttempts: number;
  /** Lambda async invoke: an event older than this goes to the dead-letter queue instead of the handler. */
  readonly asyncMaxEventAge: Duration;
}

/** What a live function may put on the bus: its own `source` and the detail-types it produces. */
export interface PublishGrant {
  readonly bus: events.IEventBus;
  /** The outbox: where the publisher keeps the events it could not put on the bus. */
  readonly outbox: sqs.IQueue;
  /** `<prefix>.<handler>`: the only `source` its entries may carry. */
  readonly source: string;
  /** The only `detail-type`s its entries may carry. */
  readonly detailTypes: readonly string[];
}

/**
 * One workflow handler deployed as `alchemiser-<handler>-<stage>`: the Rust `bootstrap` on
 * provided.al2023, X-Ray tracing active, with its own IAM role (no managed policies), its own log
 * group with a retention period, and an async invoke config that retries handler errors and then
 * sends the event to the dead-letter queue. A rule's RetryPolicy covers delivery to Lambda only,
 * never handler errors.
 *
 * Every grant is a statement with a Sid on one resource ARN, added through the grant methods
 * here or by the construct that owns the resource (tables, secret, ledger).
 */
export class HandlerFunction extends Construct {
  public readonly function: lambda.Function;
  public readonly role: iam.Role;
  public readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: HandlerFunctionProps) {
    super(scope, id);
    const functionName = `alchemiser-${props.handler}-${props.stage}`;

    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of ${functionName}`,
    });

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      logGroupName: `/aws/lambda/${functionName}`,
      retention: props.logRetention,
      removalPolicy: props.retainLogs ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
    // Instead of AWSLambdaBasicExecutionRole (logs:* on every log group): this group only.
    this.logGroup.grantWrite(this.role);
    skipCheckov(this.logGroup, {
      id: 'CKV_AWS_158',
      reason:
        'CloudWatch Logs encrypts every log group at rest; a KMS key would need a key policy for the ' +
        'logs service of the region and guards lines that carry ids, types and reasons, never broker keys ' +
        '(the secret is read by the SDK, not logged).',
    });

    // Lambda's on-failure destination, without the GetQueueAttributes/GetQueueUrl that the stock
    // SqsDestination grants: the role gets exactly sqs:SendMessage below (grantRecordDeadLetters).
    const deadLetterDestination: lambda.IDestination = {
      bind: () => ({ destination: props.deadLetterQueue.queueArn }),
    };

    this.function = new lambda.Function(this, 'Function', {
      functionName,
      description: `Alchemiser ${props.handler} handler (${props.stage})`,
      runtime: lambda.Runtime.PROVIDED_AL2023,
      handler: 'bootstrap',
      code: lambda.Code.fromAsset(props.codePath),
      architecture: props.architecture === 'arm64' ? lambda.Architecture.ARM_64 : lambda.Architecture.X86_64,
      memorySize: props.memorySize,
      timeout: props.timeout,
      role: this.role,
      logGroup: this.logGroup,
      environment: { ...props.environment },
      // One trace per workflow: the functions pass the trace header on through PutEvents.
      tracing: lambda.Tracing.ACTIVE,
      retryAttempts: props.asyncRetryAttempts,
      maxEventAge: props.asyncMaxEventAge,
      onFailure: deadLetterDestination,
    });
    this.acceptTemplateFindings();
    this.grantRecordDeadLetters(props.deadLetterQueue);
  }

  /** The checker findings every handler function has, each with the reason it is accepted. */
  private acceptTemplateFindings(): void {
    const onFailureDestination =
      "Failed async events go to the dead-letter queue through the async invoke config's OnFailure " +
      'destination (AWS::Lambda::EventInvokeConfig), which records the request and the error; a ' +
      'DeadLetterConfig as well would put every failure in the queue twice.';
    Validations.of(this.function).acknowledge({ id: 'Serverless-LambdaDLQ', reason: onFailureDestination });
    skipCheckov(
      this.function,
      { id: 'CKV_AWS_116', reason: onFailureDestination },
      {
        id: 'CKV_AWS_117',
        reason:
          "No VPC: the functions call only public AWS APIs and the broker's HTTPS API; a VPC would add " +
          'NAT cost and cold-start latency and no isolation.',
      },
      {
        id: 'CKV_AWS_115',
        reason:
          'No reserved concurrency: a new account has 10 concurrent executions and Lambda refuses any ' +
          'reservation that leaves fewer than 100 unreserved, so the first deploy would fail. Orders are ' +
          'serialised by the execution lease in the idempotency table, not by concurrency.',
      },
      {
        id: 'CKV_AWS_173',
        reason:
          'The variables hold resource names, URLs and settings, no secrets (broker keys stay in Secrets ' +
          'Manager); Lambda encrypts them at rest with its service key.',
      },
    );
    ignoreCfnLint(this.function, {
      id: 'W3005',
      reason:
        'CDK makes every function depend on its role and role policy so the policy exists before the ' +
        'first invocation; the GetAtt of the role repeats one of the two dependencies, harmlessly.',
    });
    // X-Ray's PutTraceSegments/PutTelemetryRecords take no resource: CDK's tracing grant is on "*".
    const tracingPolicy = this.role.node.tryFindChild('DefaultPolicy');
    if (tracingPolicy !== undefined) {
      Validations.of(tracingPolicy).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'Only the X-Ray statement CDK adds for active tracing uses "*": xray:PutTraceSegments and ' +
          'xray:PutTelemetryRecords support no resource-level permissions. Every other grant names one ARN.',
      });
    }
  }

  /** sqs:SendMessage on the dead-letter queue: for the on-failure destination and DEAD_LETTER_QUEUE_URL. */
  private grantRecordDeadLetters(queue: sqs.IQueue): void {
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'RecordFailuresInDeadLetterQueue',
        actions: ['sqs:SendMessage'],
        resources: [queue.queueArn],
      }),
    );
  }

  /**
   * For live publishers: PutEvents on the stage's bus for entries whose every `source` is the
   * function's own and every `detail-type` one it produces, so a compromised strategy cannot
   * forge a RebalancePlanned; and SendMessage on the outbox, where it keeps the events it could not
   * deliver.
   *
   * The keys are multi-valued (one value per entry of a PutEvents call), hence `ForAllValues`, as
   * in AWS's example policies for these keys; `ForAllValues` also holds when a key is absent, so
   * the `Null` guard requires both to be present.
   */
  public grantPublish(grant: PublishGrant): void {
    if (grant.detailTypes.length === 0) {
      throw new Error(`${this.function.node.path}: a publish grant needs at least one detail-type`);
    }
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'PublishOwnEventsToEventBus',
        actions: ['events:PutEvents'],
        resources: [grant.bus.eventBusArn],
        conditions: {
          'ForAllValues:StringEquals': { 'events:source': [grant.source], 'events:detail-type': [...grant.detailTypes] },
          Null: { 'events:source': 'false', 'events:detail-type': 'false' },
        },
      }),
    );
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        // The deployed statement id, kept as it was (the outbox once said "park").
        sid: 'ParkUndeliveredEventsInOutbox',
        actions: ['sqs:SendMessage'],
        resources: [grant.outbox.queueArn],
      }),
    );
  }

  /**
   * The start-up check that the bus exists (EVENTBRIDGE_VERIFY_BUS=true) describes it: every
   * function reads the bus configuration, publisher or not.
   */
  public grantVerifyBus(bus: events.IEventBus): void {
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'VerifyEventBusExists',
        actions: ['events:DescribeEventBus'],
        resources: [bus.eventBusArn],
      }),
    );
  }

  /**
   * For the monitor's sweep: looks at the dead letters of workflows (receive, and the queue's
   * attributes), never deletes them: a person or `alchemiser dlq redrive` does. No
   * ChangeMessageVisibility: the monitor cannot extend how long a dead letter stays out of sight;
   * what it received reappears when the visibility timeout of its ReceiveMessage call ends. (IAM
   * cannot cap that timeout itself: ReceiveMessage takes one up to 12 hours; the DLQ alarm counts
   * in-flight messages too, so a peek cannot hide a dead letter from it.)
   */
  public grantPeekDeadLetters(queue: sqs.IQueue): void {
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'PeekDeadLetterQueue',
        actions: ['sqs:ReceiveMessage', 'sqs:GetQueueAttributes'],
        resources: [queue.queueArn],
      }),
    );
  }
}
