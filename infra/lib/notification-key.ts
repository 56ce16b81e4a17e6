import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { stageAlarmsArnPattern } from './alarms';

/** Properties of {@link NotificationKey}. */
export interface NotificationKeyProps {
  readonly stage: string;
  /** Keep the key when the stack is deleted (a retained topic's messages stay readable). */
  readonly retain: boolean;
}

/**
 * The customer-managed KMS key `alias/alchemiser-notifications-<stage>` that encrypts the stage's
 * SNS topics (alarms, workflow notifications) at rest.
 *
 * A customer key, not the AWS-managed `alias/aws/sns`: CloudWatch alarms and EventBridge rules
 * publish to an encrypted topic only if the key policy lets their service principal use the key,
 * and the policy of an AWS-managed key cannot be changed. Each service gets exactly the two
 * operations SNS asks of a publisher; CloudWatch only for the stage's alarms of this account,
 * as the alarm topic's policy says; which rules may publish is the workflow topic's policy.
 */
export class NotificationKey extends Construct {
  public readonly key: kms.Key;

  constructor(scope: Construct, id: string, props: NotificationKeyProps) {
    super(scope, id);
    this.key = new kms.Key(this, 'Key', {
      alias: `alias/alchemiser-notifications-${props.stage}`,
      description: `Encrypts the Alchemiser SNS topics of stage ${props.stage} (alarms, workflow notifications)`,
      enableKeyRotation: true,
      // A deleted stage's key waits the shortest window KMS allows before it is gone.
      pendingWindow: Duration.days(7),
      removalPolicy: props.retain ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
    // CloudWatch: for this account's alarms of this stage only, as the alarm topic's policy says.
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AlarmsPublishToEncryptedTopics',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:GenerateDataKey*', 'kms:Decrypt'],
        // In a key policy, "*" is this key.
        resources: ['*'],
        conditions: {
          StringEquals: { 'aws:SourceAccount': Stack.of(this).account },
          ArnLike: { 'aws:SourceArn': stageAlarmsArnPattern(this, props.stage) },
        },
      }),
    );
    // EventBridge: which rules may publish is the workflow topic's policy (aws:SourceArn of each
    // rule). Not repeated here: a source condition the KMS request of an EventBridge delivery does
    // not carry would drop every notification silently, and that is not testable without AWS.
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'RulesPublishToEncryptedTopics',
        principals: [new iam.ServicePrincipal('events.amazonaws.com')],
        actions: ['kms:GenerateDataKey*', 'kms:Decrypt'],
        resources: ['*'],
      }),
    );
  }
}
