import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ignoreCfnLint, skipCheckov } from './template-checks';

/** Properties of {@link ParkingQueue}. */
export interface ParkingQueueProps {
  /** Physical queue name, carrying the stage. */
  readonly queueName: string;
  /** What lands here, for the nag acknowledgement and the reader of the template. */
  readonly purpose: string;
  /** Keep the queue (and the events parked in it) when the stack is deleted. */
  readonly retain: boolean;
}

/**
 * An SQS queue where events that could not be delivered or handled are parked until a person
 * (or `alchemiser dlq`) looks at them and resends them: 14 days of retention, SSE-SQS
 * encryption, TLS only. Used for the dead-letter queue and for the publishers' outbox.
 *
 * SSE-SQS rather than a customer-managed KMS key: EventBridge rule DLQs, Lambda on-failure
 * destinations and Scheduler DLQs all send to it with plain IAM/queue-policy permissions,
 * while a KMS key would need a key policy naming every one of those services.
 */
export class ParkingQueue extends Construct {
  public readonly queue: sqs.Queue;

  constructor(scope: Construct, id: string, props: ParkingQueueProps) {
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
   * For the operator (`alchemiser dlq` and `outbox drain`): look at the parked messages (receive,
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
   * For the operator's `outbox drain`: a parked record whose event the stage would refuse (unsigned,
   * forged, altered) is not resent but set aside here, as a `refused` dead letter a person looks at
   * with `alchemiser dlq show`. Only on the dead-letter queue: the operator never writes the outbox.
   */
  public grantSetAside(role: iam.IRole, sid: string): void {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ sid, actions: ['sqs:SendMessage'], resources: [this.queue.queueArn] }),
    );
  }
}
