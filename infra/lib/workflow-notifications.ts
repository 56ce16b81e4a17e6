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
 * input transformer writes a JSON notification (see {@link notification}) with the workflow,
 * step and reason quoted as untrusted data, and what to run to inspect it. The topic's policy
 * lets these rules publish, and nothing else.
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

    this.addRule(
      props,
      'WorkflowFailed',
      props.failedSources,
      notification(stage, 'a workflow failed', ['correlation_id', 'failure_step', 'failure_reason']),
    );
    if (props.completedSources !== undefined) {
      this.addRule(
        props,
        'WorkflowCompleted',
        props.completedSources,
        notification(stage, 'a workflow completed', ['correlation_id', 'workflow_duration_ms']),
      );
    }
  }

  private addRule(props: WorkflowNotificationsProps, detailType: string, sources: readonly string[], message: events.RuleTargetInput): void {
    const label = `notify-${detailType.replace(/([a-z])([A-Z])/g, '$1-$2').toLowerCase()}`;
    const ruleName = `alchemiser-${label}-${props.stage}`;
    const rule = new events.Rule(this, detailType, {
      ruleName,
      description: `${detailType} from any producer to the workflow notification topic`,
      eventBus: props.bus,
      enabled: props.enabled,
      eventPattern: { source: [...sources], detailType: [detailType] },
    });
    rule.addTarget(new TopicFromRule(this.topic, message, props));
    this.rules.set(detailType, rule);
    this.ruleNames.set(label, ruleName);
  }
}

/**
 * The notification of a workflow's end: a JSON object, so that every value taken from the event
 * is inserted by EventBridge as a JSON string or number, quoted and escaped (a forged
 * `correlation_id` with quotes, line breaks or terminal escapes stays one inert string), under a
 * key that says it is untrusted. The message names the commands to run with a placeholder the
 * operator fills in, never with a value from the event: a forged id must not become a command
 * line someone pastes.
 */
export function notification(stage: string, what: string, detailFields: readonly string[]): events.RuleTargetInput {
  const values: Record<string, string> = { source: events.EventField.fromPath('$.source') };
  for (const name of detailFields) values[name] = events.EventField.fromPath(`$.detail.${name}`);
  return events.RuleTargetInput.fromObject({
    notice: `Alchemiser stage ${stage}: ${what}.`,
    event_values_untrusted: values,
    to_inspect:
      'The values above are copied from the event as data: never paste them into a shell. Run ' +
      `"alchemiser workflows show CORRELATION_ID --stage ${stage}", typing CORRELATION_ID yourself once you have ` +
      `checked it is a plain id, or "alchemiser workflows list --stage ${stage}".`,
  });
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
