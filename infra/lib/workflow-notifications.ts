import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

/** Properties of {@link WorkflowNotifications}. */
export interface WorkflowNotificationsProps {
  readonly stage: string;
  readonly bus: events.IEventBus;
  readonly encryptionKey: kms.IKey;
  /** Every source that publishes WorkflowFailed, from the routing table (Rust and Python). */
  readonly failedSources: readonly string[];
  /** Every source that publishes WorkflowCompleted; notifies on completion only when given. */
  readonly completedSources?: readonly string[];
  readonly email?: string;
  /** Whether the rules deliver (they follow the stage's rulesEnabled). */
  readonly enabled: boolean;
  /** Notifications EventBridge could not deliver to the topic land here. */
  readonly deadLetterQueue: sqs.IQueue;
  readonly deliveryMaxEventAge: Duration;
  readonly deliveryRetryAttempts: number;
}

/**
 * Tells a person about each workflow's end on the SNS topic `alchemiser-workflow-notifications-<stage>`
 * (optionally subscribed to an e-mail address): one rule per notified type on the bus, whose
 * input transformer writes a sentence saying which workflow, which step, why, and the command to
 * inspect it. The topic's policy lets these rules publish, and nothing else.
 */
export class WorkflowNotifications extends Construct {
  public readonly topic: sns.Topic;
  /** Notified detail-type → rule. */
  public readonly rules = new Map<string, events.Rule>();
  /** `notify-<type in kebab case>` → physical rule name, for alarms and the dashboard. */
  public readonly ruleNames = new Map<string, string>();

  constructor(scope: Construct, id: string, props: WorkflowNotificationsProps) {
    super(scope, id);
    const { stage } = props;
    this.topic = new sns.Topic(this, 'Topic', {
      topicName: `alchemiser-workflow-notifications-${stage}`,
      displayName: `Alchemiser workflows (${stage})`,
      masterKey: props.encryptionKey,
      enforceSSL: true,
    });
    if (props.email !== undefined) {
      this.topic.addSubscription(new subscriptions.EmailSubscription(props.email));
    }

    const field = (name: string) => events.EventField.fromPath(`$.detail.${name}`);
    const workflow = field('correlation_id');
    const inspect = `Inspect: alchemiser workflows show ${workflow} --stage ${stage}`;
    this.addRule(
      props,
      'WorkflowFailed',
      props.failedSources,
      `Workflow ${workflow} failed at ${field('failure_step')}: ${field('failure_reason')}. ${inspect}`,
    );
    if (props.completedSources !== undefined) {
      this.addRule(
        props,
        'WorkflowCompleted',
        props.completedSources,
        `Workflow ${workflow} completed in ${field('workflow_duration_ms')} ms. ${inspect}`,
      );
    }
  }

  private addRule(props: WorkflowNotificationsProps, detailType: string, sources: readonly string[], message: string): void {
    const label = `notify-${detailType.replace(/([a-z])([A-Z])/g, '$1-$2').toLowerCase()}`;
    const ruleName = `alchemiser-${label}-${props.stage}`;
    const rule = new events.Rule(this, detailType, {
      ruleName,
      description: `${detailType} from any producer to the workflow notification topic`,
      eventBus: props.bus,
      enabled: props.enabled,
      eventPattern: { source: [...sources], detailType: [detailType] },
    });
    rule.addTarget(new TopicFromRule(this.topic, events.RuleTargetInput.fromText(message), props));
    this.rules.set(detailType, rule);
    this.ruleNames.set(label, ruleName);
  }
}

/**
 * A rule target publishing to `topic`, allowed by a topic-policy statement for this rule only
 * (`aws:SourceArn`). The stock `targets.SnsTopic` allows events.amazonaws.com to publish from any
 * rule of any account that can reach the topic.
 */
class TopicFromRule implements events.IRuleTarget {
  constructor(
    private readonly topic: sns.ITopic,
    private readonly message: events.RuleTargetInput,
    private readonly delivery: Pick<WorkflowNotificationsProps, 'deadLetterQueue' | 'deliveryMaxEventAge' | 'deliveryRetryAttempts'>,
  ) {}

  bind(rule: events.IRule): events.RuleTargetConfig {
    this.topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: `Publish${rule.node.id}Notifications`,
        principals: [new iam.ServicePrincipal('events.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: { ArnEquals: { 'aws:SourceArn': rule.ruleArn } },
      }),
    );
    targets.addToDeadLetterQueueResourcePolicy(rule, this.delivery.deadLetterQueue);
    return {
      ...targets.bindBaseTargetConfig({
        deadLetterQueue: this.delivery.deadLetterQueue,
        maxEventAge: this.delivery.deliveryMaxEventAge,
        retryAttempts: this.delivery.deliveryRetryAttempts,
      }),
      arn: this.topic.topicArn,
      input: this.message,
      targetResource: this.topic,
    };
  }
}
