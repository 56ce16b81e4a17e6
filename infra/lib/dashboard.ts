import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { RoutingTable } from './routing-table';

/** Namespace of the metrics the Rust handlers emit (EMF), with dimensions `stage` and `function`. */
export const CUSTOM_METRICS_NAMESPACE = 'Alchemiser/EventBridge';


/** Properties of {@link WorkflowDashboard}. */
export interface WorkflowDashboardProps {
  readonly stage: string;
  readonly eventBusName: string;
  /** The routing table, to describe the flow. */
  readonly routing: RoutingTable;
  /** Rule label (consuming handler, notified type) → physical rule name. */
  readonly ruleNames: ReadonlyMap<string, string>;
  /** Handler name → function. */
  readonly functions: ReadonlyMap<string, lambda.IFunction>;
  readonly deadLetterQueue: sqs.IQueue;
  readonly outboxQueue: sqs.IQueue;
  /** The checks execution counts refused plans by (`PlansRefused`, dimension `check`): alarms.ts `LIMIT_ALARMS`. */
  readonly refusalChecks: readonly string[];
}

/**
 * The CloudWatch dashboard `alchemiser-<stage>`: workflow outcomes and durations (from the
 * monitor's ledger), the workflow's events per rule (matched, invoked, failed), the functions'
 * errors, throttles and durations, the DLQ and outbox depth, and the handlers' own metrics
 * (events handled, failures, duplicates skipped, orders, latency).
 */
export class WorkflowDashboard extends Construct {
  public readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: WorkflowDashboardProps) {
    super(scope, id);
    const period = Duration.minutes(5);
    const rules = [...props.ruleNames];
    const functions = [...props.functions];

    const ruleMetric = (metricName: string) =>
      rules.map(
        ([label, ruleName]) =>
          new cloudwatch.Metric({
            namespace: 'AWS/Events',
            metricName,
            dimensionsMap: { EventBusName: props.eventBusName, RuleName: ruleName },
            statistic: cloudwatch.Stats.SUM,
            period,
            label,
          }),
      );
    const perFunction = (metricOf: (fn: lambda.IFunction) => cloudwatch.IMetric) =>
      functions.map(([handler, fn]) => withLabel(metricOf(fn), handler));
    const metric = (metricName: string, statistic: string, handler: string, label = handler) =>
      new cloudwatch.Metric({
        namespace: CUSTOM_METRICS_NAMESPACE,
        metricName,
        dimensionsMap: { stage: props.stage, function: handler },
        statistic,
        period,
        label,
      });
    const custom = (metricName: string, statistic: string, handlers: readonly string[]) =>
      handlers.map((handler) => metric(metricName, statistic, handler));
    const handlers = functions.map(([handler]) => handler);
    const graph = (title: string, left: cloudwatch.IMetric[]) =>
      new cloudwatch.GraphWidget({ title, left, width: 8, height: 6 });

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: `alchemiser-${props.stage}`,
      defaultInterval: Duration.days(1),
    });
    this.dashboard.addWidgets(
      new cloudwatch.TextWidget({
        markdown: [
          `# Alchemiser (${props.stage})`,
          props.routing.rules.map((r) => `**${r.handler}** ← ${r.event_types.join(', ')}`).join(' · '),
          '',
          'Anything in the DLQ or the outbox needs a person (`alchemiser dlq`).',
        ].join('\n'),
        width: 24,
        height: 3,
      }),
    );
    this.dashboard.addWidgets(
      graph('Workflows', [
        metric('WorkflowsCompleted', cloudwatch.Stats.SUM, 'monitor', 'completed'),
        metric('WorkflowsFailed', cloudwatch.Stats.SUM, 'monitor', 'failed'),
        metric('WorkflowsTimedOut', cloudwatch.Stats.SUM, 'monitor', 'timed out'),
      ]),
      graph(
        'Workflow duration (ms)',
        [50, 90, 99].map((p) => metric('WorkflowDurationMs', cloudwatch.Stats.p(p), 'monitor', `p${p}`)),
      ),
      graph('Orders (execution)', [
        metric('OrdersPlaced', cloudwatch.Stats.SUM, 'execution', 'placed'),
        metric('OrdersFailed', cloudwatch.Stats.SUM, 'execution', 'failed'),
      ]),
    );
    // Beside the orders, the plans that placed none or stopped: which limit, or the halt.
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Plans refused by the pre-trade limits and the halt (execution)',
        left: props.refusalChecks.map(
          (check) =>
            new cloudwatch.Metric({
              namespace: CUSTOM_METRICS_NAMESPACE,
              metricName: 'PlansRefused',
              dimensionsMap: { stage: props.stage, function: 'execution', check },
              statistic: cloudwatch.Stats.SUM,
              period,
              label: check,
            }),
        ),
        width: 24,
        height: 6,
      }),
    );
    this.dashboard.addWidgets(
      graph('Events matched per rule', ruleMetric('MatchedEvents')),
      graph('Target invocations per rule', ruleMetric('Invocations')),
      graph('Failed invocations per rule', ruleMetric('FailedInvocations')),
    );
    this.dashboard.addWidgets(
      graph('Function errors', perFunction((fn) => fn.metricErrors({ period, statistic: cloudwatch.Stats.SUM }))),
      graph('Function throttles', perFunction((fn) => fn.metricThrottles({ period, statistic: cloudwatch.Stats.SUM }))),
      graph('Function duration p99 (ms)', perFunction((fn) => fn.metricDuration({ period, statistic: cloudwatch.Stats.p(99) }))),
    );
    this.dashboard.addWidgets(
      graph('Events handled', custom('EventsHandled', cloudwatch.Stats.SUM, handlers)),
      graph('Handler failures', custom('Failures', cloudwatch.Stats.SUM, handlers)),
      graph('Duplicates skipped', custom('DuplicatesSkipped', cloudwatch.Stats.SUM, handlers)),
    );
    this.dashboard.addWidgets(
      graph('Handler latency p99 (ms)', custom('HandlerLatencyMs', cloudwatch.Stats.p(99), handlers)),
      graph('Waiting for a person (DLQ, outbox)', [
        withLabel(props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period, statistic: cloudwatch.Stats.MAXIMUM }), 'DLQ'),
        withLabel(props.outboxQueue.metricApproximateNumberOfMessagesVisible({ period, statistic: cloudwatch.Stats.MAXIMUM }), 'outbox'),
      ]),
    );
  }
}

function withLabel(metric: cloudwatch.IMetric, label: string): cloudwatch.IMetric {
  return metric instanceof cloudwatch.Metric ? metric.with({ label }) : metric;
}
