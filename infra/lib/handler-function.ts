import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { LambdaArchitecture } from './stage-config';

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
  /** Where Lambda sends an async event that still fails after its retries, and where handlers park permanent failures. */
  readonly failureQueue: sqs.IQueue;
  /** Lambda async invoke retries after a handler error (0-2). */
  readonly asyncRetryAttempts: number;
  /** Lambda async invoke: an event older than this goes to the failure queue instead of the handler. */
  readonly asyncMaxEventAge: Duration;
}

/**
 * One workflow handler deployed as `alchemiser-<handler>-<stage>`: the Rust `bootstrap` on
 * provided.al2023, with its own IAM role (no managed policies), its own log group with a retention
 * period, and an async invoke config that retries handler errors and then sends the event to the
 * failure queue. A rule's RetryPolicy covers delivery to Lambda only, never handler errors.
 *
 * Every grant is a statement with a Sid on one resource ARN, added through the grant methods here.
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

    // Lambda's on-failure destination, without the GetQueueAttributes/GetQueueUrl that the stock
    // SqsDestination grants: the role gets exactly sqs:SendMessage below (grantRecordFailures).
    const failureDestination: lambda.IDestination = {
      bind: () => ({ destination: props.failureQueue.queueArn }),
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
      retryAttempts: props.asyncRetryAttempts,
      maxEventAge: props.asyncMaxEventAge,
      onFailure: failureDestination,
    });

    this.grantRecordFailures(props.failureQueue);
  }

  /** sqs:SendMessage on the failure queue: for the on-failure destination and FAILURE_QUEUE_URL. */
  private grantRecordFailures(queue: sqs.IQueue): void {
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'RecordFailuresInDeadLetterQueue',
        actions: ['sqs:SendMessage'],
        resources: [queue.queueArn],
      }),
    );
  }

  /**
   * For publishers: PutEvents (and DescribeEventBus, for the start-up check that the bus exists)
   * on the stage's bus, and SendMessage on the outbox where undeliverable events are parked.
   */
  public grantPublish(bus: events.IEventBus, outbox: sqs.IQueue): void {
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'PublishToEventBus',
        actions: ['events:PutEvents', 'events:DescribeEventBus'],
        resources: [bus.eventBusArn],
      }),
    );
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ParkUndeliveredEventsInOutbox',
        actions: ['sqs:SendMessage'],
        resources: [outbox.queueArn],
      }),
    );
  }

  /**
   * For handlers that publish nothing but share the bus configuration: the start-up check
   * (EVENTBRIDGE_VERIFY_BUS=true) describes the bus, so they may describe it and nothing more.
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
}
