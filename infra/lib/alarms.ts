import { ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { CUSTOM_METRICS_NAMESPACE } from './dashboard';

/** Properties of {@link WorkflowAlarms}. */
export interface WorkflowAlarmsProps {
  readonly stage: string;
  readonly eventBusName: string;
  readonly deadLetterQueue: sqs.IQueue;
  readonly outboxQueue: sqs.IQueue;
  /** Execution's order follow-ups: alarmed when one waits too long (its dead letters go to the DLQ, alarmed above). */
  readonly followUpQueue: sqs.IQueue;
  /** Rule label (consuming handler, notified type) → physical rule name, for FailedInvocations. */
  readonly ruleNames: ReadonlyMap<string, string>;
  /** Handler name → function, for Errors and Throttles. */
  readonly functions: ReadonlyMap<string, lambda.IFunction>;
  /** Encrypts the alarm topic; its policy lets CloudWatch use it. */
  readonly encryptionKey: kms.IKey;
  readonly alarmEmail?: string;
}

/** An order follow-up older than this means execution is not following its orders up. */
export const FOLLOW_UP_MAX_AGE = Duration.minutes(30);

/** Every alarm of the stage is named `alchemiser-<stage>-<what>`. */
export function alarmNamePrefix(stage: string): string {
  return `alchemiser-${stage}-`;
}

/**
 * `arn:<partition>:cloudwatch:<region>:<account>:alarm:alchemiser-<stage>-*`: the stage's alarms,
 * the only CloudWatch sources allowed to publish to its alarm topic and to use the topic's key.
 */
export function stageAlarmsArnPattern(scope: Construct, stage: string): string {
  return Stack.of(scope).formatArn({
    service: 'cloudwatch',
    resource: 'alarm',
    resourceName: `${alarmNamePrefix(stage)}*`,
    arnFormat: ArnFormat.COLON_RESOURCE_NAME,
  });
}

/**
 * The handlers' own metrics (EMF, lib/metrics) that alarm on the first occurrence: a workflow
 * that failed or timed out, an order the broker refused. The monitor counts workflow outcomes,
 * execution its orders.
 */
export const OUTCOME_ALARMS = [
  {
    metricName: 'WorkflowsFailed',
    handler: 'monitor',
    alarmSuffix: 'workflows-failed',
    description: 'A workflow ended in WorkflowFailed (see the workflow notification topic, or alchemiser workflows).',
  },
  {
    metricName: 'WorkflowsTimedOut',
    handler: 'monitor',
    alarmSuffix: 'workflows-timed-out',
    description: 'A workflow passed its deadline without a terminal event and the sweep timed it out.',
  },
  {
    metricName: 'OrdersFailed',
    handler: 'execution',
    alarmSuffix: 'orders-failed',
    description: 'Execution reported an order that failed or was skipped (TradeExecuted failed_symbols).',
  },
] as const;

/**
 * Execution's pre-trade limits and the stage's halt switch (issue 23): each refused plan is counted
 * by execution as `PlansRefused` with the dimension `check` (lib/metrics `refused`), and each check
 * here alarms on its first refusal. The checks are `Refusal::LIMIT_CHECKS` in
 * lib/trading/src/orders/refusal.rs (a Rust test reads this list to keep the two in step).
 */
export const LIMIT_ALARMS = [
  { check: 'halted', description: 'A plan was refused because trading is halted on this stage (alchemiser halt; resume with alchemiser resume).' },
  { check: 'target_weights', description: "A plan's target weights summed above 1 plus its tolerance: the strategy or planner is wrong; nothing was traded." },
  { check: 'buys_over_equity', description: 'A plan bought more than the equity plus its sells: the planner or its account snapshot is wrong; nothing was traded.' },
  { check: 'max_order_notional', description: 'An order would have exceeded MAX_ORDER_NOTIONAL (docs/runbooks.md: a limit tripped).' },
  { check: 'max_plan_turnover', description: "A plan's turnover exceeded MAX_PLAN_TURNOVER (docs/runbooks.md: a limit tripped)." },
  { check: 'max_daily_buy_notional', description: "The day's buys would have exceeded MAX_DAILY_BUY_NOTIONAL (docs/runbooks.md: a limit tripped)." },
  { check: 'max_daily_orders', description: "The day's orders would have exceeded MAX_DAILY_ORDERS (docs/runbooks.md: a limit tripped)." },
  { check: 'max_failed_sell_notional', description: "Failed sells exceeded MAX_FAILED_SELL_NOTIONAL and blocked the plan's buys (docs/runbooks.md: a limit tripped)." },
  { check: 'buy_allow_list', description: 'A plan would have bought a symbol outside BUY_ALLOW_LIST; nothing was traded.' },
] as const;

/** The alarm name suffix of a limit check: `plan-refused-max-daily-orders`. */
export function limitAlarmSuffix(check: string): string {
  return `plan-refused-${check.replace(/_/g, '-')}`;
}

/**
 * Alarms that say "an event is stuck or lost, or a workflow went wrong": dead-letter queue or
 * outbox not empty, an order follow-up waiting over 30 minutes, a rule failing to invoke its target, a handler erroring or being throttled, a
 * workflow failed or timed out, an order failed, a plan refused by a pre-trade limit or the halt. All notify the KMS-encrypted topic
 * `alchemiser-alarms-<stage>` (optionally subscribed to an e-mail address), whose policy lets
 * CloudWatch publish for the stage's alarms (`alchemiser-<stage>-*`) of this account only.
 */
export class WorkflowAlarms extends Construct {
  public readonly topic: sns.Topic;
  public readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: WorkflowAlarmsProps) {
    super(scope, id);
    const { stage } = props;

    this.topic = new sns.Topic(this, 'Topic', {
      topicName: `alchemiser-alarms-${stage}`,
      displayName: `Alchemiser alarms (${stage})`,
      masterKey: props.encryptionKey,
      enforceSSL: true,
    });
    // A topic policy replaces SNS's default one: without this statement no alarm could publish.
    // CloudWatch publishes for this account's alarms of this stage only (no confused deputy).
    this.topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'StageAlarmsPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: {
          StringEquals: { 'aws:SourceAccount': Stack.of(this).account },
          ArnLike: { 'aws:SourceArn': stageAlarmsArnPattern(this, stage) },
        },
      }),
    );
    if (props.alarmEmail) {
      this.topic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));
    }
    const notify = new actions.SnsAction(this.topic);

    const add = (alarmId: string, alarmProps: cloudwatch.AlarmProps): void => {
      if (alarmProps.alarmName === undefined || !alarmProps.alarmName.startsWith(alarmNamePrefix(stage))) {
        throw new Error(`Alarm ${alarmId} must be named ${alarmNamePrefix(stage)}...: the topic accepts only those.`);
      }
      const alarm = new cloudwatch.Alarm(this, alarmId, alarmProps);
      alarm.addAlarmAction(notify);
      this.alarms.push(alarm);
    };
    // Every alarm here fires on the first occurrence: one lost trade event is worth a look.
    const firstOccurrence = {
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    };

    // Visible and in flight: a dead letter someone (the monitor's sweep) has received is still one.
    const depth = { period: Duration.minutes(1), statistic: cloudwatch.Stats.MAXIMUM };
    add('DeadLetterQueueNotEmpty', {
      alarmName: `alchemiser-${stage}-dlq-not-empty`,
      alarmDescription: 'Events failed delivery or handling and wait in the dead-letter queue (see alchemiser dlq).',
      metric: new cloudwatch.MathExpression({
        expression: 'visible + inFlight',
        label: 'dead letters (visible + in flight)',
        usingMetrics: {
          visible: props.deadLetterQueue.metricApproximateNumberOfMessagesVisible(depth),
          inFlight: props.deadLetterQueue.metricApproximateNumberOfMessagesNotVisible(depth),
        },
        period: Duration.minutes(1),
      }),
      ...firstOccurrence,
    });
    add('OutboxNotEmpty', {
      alarmName: `alchemiser-${stage}-outbox-not-empty`,
      alarmDescription: 'A publisher could not put events on the bus and kept them in the outbox.',
      metric: props.outboxQueue.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(1),
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
      ...firstOccurrence,
    });

    add('OrderFollowUpsLate', {
      alarmName: `alchemiser-${stage}-order-follow-ups-late`,
      alarmDescription:
        "An order follow-up has waited more than 30 minutes in the follow-up queue: execution is not following its orders up " +
        '(failing, throttled, or the event source mapping is off). Follow-ups that fail 5 times go to the DLQ.',
      metric: props.followUpQueue.metricApproximateAgeOfOldestMessage({ period: Duration.minutes(5), statistic: cloudwatch.Stats.MAXIMUM }),
      threshold: FOLLOW_UP_MAX_AGE.toSeconds(),
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    for (const [label, ruleName] of props.ruleNames) {
      add(`FailedInvocations${capitalize(label)}`, {
        alarmName: `alchemiser-${stage}-${label}-rule-failed-invocations`,
        alarmDescription: `The rule ${ruleName} could not invoke its target (events go to the DLQ).`,
        // On a custom bus the metric is only published with both dimensions.
        metric: new cloudwatch.Metric({
          namespace: 'AWS/Events',
          metricName: 'FailedInvocations',
          dimensionsMap: { EventBusName: props.eventBusName, RuleName: ruleName },
          statistic: cloudwatch.Stats.SUM,
          period: Duration.minutes(5),
        }),
        ...firstOccurrence,
      });
    }

    for (const [handler, fn] of props.functions) {
      add(`Errors${capitalize(handler)}`, {
        alarmName: `alchemiser-${stage}-${handler}-errors`,
        alarmDescription: `The ${handler} function returned errors (retried, then sent to the DLQ).`,
        metric: fn.metricErrors({ period: Duration.minutes(5), statistic: cloudwatch.Stats.SUM }),
        ...firstOccurrence,
      });
      add(`Throttles${capitalize(handler)}`, {
        alarmName: `alchemiser-${stage}-${handler}-throttles`,
        alarmDescription: `The ${handler} function was throttled (events are delayed, possibly past their max age).`,
        metric: fn.metricThrottles({ period: Duration.minutes(5), statistic: cloudwatch.Stats.SUM }),
        ...firstOccurrence,
      });
    }

    for (const alarm of OUTCOME_ALARMS) {
      add(alarm.metricName, {
        alarmName: `alchemiser-${stage}-${alarm.alarmSuffix}`,
        alarmDescription: alarm.description,
        metric: new cloudwatch.Metric({
          namespace: CUSTOM_METRICS_NAMESPACE,
          metricName: alarm.metricName,
          dimensionsMap: { stage, function: alarm.handler },
          statistic: cloudwatch.Stats.SUM,
          period: Duration.minutes(5),
        }),
        ...firstOccurrence,
      });
    }

    for (const limit of LIMIT_ALARMS) {
      add(`PlanRefused${limit.check.split('_').map(capitalize).join('')}`, {
        alarmName: `alchemiser-${stage}-${limitAlarmSuffix(limit.check)}`,
        alarmDescription: limit.description,
        metric: new cloudwatch.Metric({
          namespace: CUSTOM_METRICS_NAMESPACE,
          metricName: 'PlansRefused',
          dimensionsMap: { stage, function: 'execution', check: limit.check },
          statistic: cloudwatch.Stats.SUM,
          period: Duration.minutes(5),
        }),
        ...firstOccurrence,
      });
    }
  }
}

function capitalize(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}
