import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ignoreCfnLint, skipCheckov } from './template-checks';

/** Receives of one follow-up before SQS moves it to the dead-letter queue. */
export const FOLLOW_UP_MAX_RECEIVES = 5;
/** How long a received follow-up stays invisible: longer than the execution function's 120 s timeout. */
export const FOLLOW_UP_VISIBILITY = Duration.seconds(180);

/** Properties of {@link OrderFollowUpQueue}. */
export interface OrderFollowUpQueueProps {
  readonly stage: string;
  /** The stage's dead-letter queue: a follow-up received {@link FOLLOW_UP_MAX_RECEIVES} times ends there. */
  readonly deadLetterQueue: sqs.IQueue;
  /** Keep the queue (and the follow-ups in it) when the stack is deleted. */
  readonly retain: boolean;
}

/** The function that follows orders up: it sends the follow-ups and consumes them. */
export interface FollowUpConsumer {
  readonly function: lambda.IFunction;
  readonly role: iam.IRole;
}

/**
 * The SQS standard queue `alchemiser-order-follow-up-<stage>` through which execution follows
 * each order it placed to a final state without waiting in one invocation: it sends itself a
 * message (`{"follow_up": {"function": "execution", "check": N, "due_at": ...}, "event": <envelope>}`,
 * delayed until the check is due) and an event source mapping hands it back, one message per
 * invocation. A follow-up that fails {@link FOLLOW_UP_MAX_RECEIVES} times goes to the stage's
 * dead-letter queue, where the monitor's sweep and the DLQ alarm see it. SSE-SQS, TLS only.
 */
export class OrderFollowUpQueue extends Construct {
  public readonly queue: sqs.Queue;
  /** Set by {@link connect}. */
  public mapping?: lambda.EventSourceMapping;

  constructor(scope: Construct, id: string, props: OrderFollowUpQueueProps) {
    super(scope, id);
    this.queue = new sqs.Queue(this, 'Queue', {
      queueName: `alchemiser-order-follow-up-${props.stage}`,
      visibilityTimeout: FOLLOW_UP_VISIBILITY,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      deadLetterQueue: { queue: props.deadLetterQueue, maxReceiveCount: FOLLOW_UP_MAX_RECEIVES },
      removalPolicy: props.retain ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
    skipCheckov(this.queue, {
      id: 'CKV_AWS_27',
      reason:
        'Encrypted at rest with SSE-SQS (SqsManagedSseEnabled), which checkov does not recognise; a KMS ' +
        'key would add a key policy for the execution role and SQS redrive for no isolation beyond IAM.',
    });
  }

  /**
   * Makes `consumer` the queue's only reader and writer: an event source mapping (batch size 1,
   * partial batch responses, enabled iff `enabled`), `sqs:SendMessage` to schedule follow-ups,
   * and the consume actions the mapping (and a handler deferring a check) needs.
   */
  public connect(consumer: FollowUpConsumer, enabled: boolean): lambda.EventSourceMapping {
    if (this.mapping !== undefined) throw new Error('The order follow-up queue has one consumer.');
    consumer.role.addToPrincipalPolicy(
      new iam.PolicyStatement({ sid: 'SendOrderFollowUps', actions: ['sqs:SendMessage'], resources: [this.queue.queueArn] }),
    );
    consumer.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ConsumeOrderFollowUps',
        actions: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:GetQueueAttributes'],
        resources: [this.queue.queueArn],
      }),
    );
    this.mapping = new lambda.EventSourceMapping(this, 'ToConsumer', {
      target: consumer.function,
      eventSourceArn: this.queue.queueArn,
      batchSize: 1,
      reportBatchItemFailures: true,
      enabled,
    });
    // CloudFormation checks the role's permissions when it creates the mapping: the policy first.
    this.mapping.node.addDependency(consumer.role);
    const redriveInstead =
      'An SQS event source mapping takes no on-failure destination (those are for streams and Kafka): a follow-up that ' +
      `fails ${FOLLOW_UP_MAX_RECEIVES} times moves to the stage's dead-letter queue through the queue's redrive policy.`;
    Validations.of(this.mapping).acknowledge({ id: 'Serverless-LambdaEventSourceMappingDestination', reason: redriveInstead });
    ignoreCfnLint(this.mapping, { id: 'ES1001', reason: redriveInstead });
    return this.mapping;
  }
}
