import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ignoreCfnLint, skipCheckov } from './template-checks';

/** Properties of {@link KeptMessagesQueue}. */
export interface KeptMessagesQueueProps {
  /** Physical queue name, carrying the stage. */
  readonly queueName: string;
  /** What lands here, for the nag acknowledgement and the reader of the template. */
  readonly purpose: string;
  /** Keep the queue (and the messages kept in it) when the stack is deleted. */
  readonly retain: boolean;
}

/**
 * An SQS queue that keeps messages until a person looks at them and resends them: 14 days of
 * retention, SSE-SQS encryption, TLS only, no dead-letter queue of its own (it is the last stop;
 * its depth is alarmed on). Used for the stage's two such queues: the dead-letter queue (dead
 * letters: events not handled, `alchemiser dlq`) and the outbox (events a publisher could not put
 * on the bus, `alchemiser outbox drain`).
 *
 * SSE-SQS rather than a customer-managed KMS key: EventBridge rule DLQs, Lambda on-failure
 * destinations and Scheduler DLQs all send to it with plain IAM/queue-policy permissions,
 * while a KMS key would need a key policy naming every one of those services.
 */
export class KeptMessagesQueue extends Construct {
  public readonly queue: sqs.Queue;

  constructor(scope: Construct, id: string, props: KeptMessagesQueueProps) {
    super(scope, id);
    this.queue = new sqs.Queue(this, 'Queue', {
      queueName: props.queueName,
      retentionPeriod: Duration.days(14), // SQS's maximum: two weeks to notice and resend.
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      removalPolicy: props.retain ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
    const lastStop =
      `This queue is itself the last stop (${props.purpose}); a dead-letter queue for it would only ` +
      'move the same messages one hop further. Its depth is alarmed on instead.';
    Validations.of(this.queue).acknowledge(
      { id: 'AwsSolutions-SQS3', reason: lastStop },
      { id: 'Serverless-SQSRedrivePolicy', reason: lastStop },
    );
    ignoreCfnLint(this.queue, { id: 'ES6000', reason: lastStop });
    skipCheckov(this.queue, {
      id: 'CKV_AWS_27',
      reason:
        'Encrypted at rest with SSE-SQS (SqsManagedSseEnabled), which checkov does not recognise; a KMS ' +
        'key would need a key policy for every sender (EventBridge rules, Lambda destinations, the ' +
        'schedules, the functions) for no isolation beyond the queue policy.',
    });
  }

  /**
   * For the operator (`alchemiser dlq` and `outbox drain`): look at the kept messages (receive,
   * and make them visible again by changing the visibility), delete what was resent, find the
   * queue by name and read its depth. No SendMessage: what is resent goes to the bus.
   */
  public grantDrain(role: iam.IRole, sid: string): void {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid,
        actions: ['sqs:ReceiveMessage', 'sqs:ChangeMessageVisibility', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl'],
        resources: [this.queue.queueArn],
      }),
    );
  }

  /**
   * For the operator's `outbox drain`: an outbox record whose event the stage would refuse (unsigned,
   * forged, altered) is not resent but set aside here, as a `refused` dead letter a person looks at
   * with `alchemiser dlq show`. Only on the dead-letter queue: the operator never writes the outbox.
   */
  public grantSetAside(role: iam.IRole, sid: string): void {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ sid, actions: ['sqs:SendMessage'], resources: [this.queue.queueArn] }),
    );
  }
}
