import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { DeliveredRoute } from './routing-table';

/** Properties of {@link RoutingRules}. */
export interface RoutingRulesProps {
  readonly stage: string;
  readonly bus: events.IEventBus;
  /** The routes with a consumer, straight from the routing table. */
  readonly routes: readonly DeliveredRoute[];
  /** The Lambda function of each consuming handler. */
  readonly consumers: ReadonlyMap<string, lambda.IFunction>;
  /** Events EventBridge could not deliver to the consumer land here. */
  readonly deadLetterQueue: sqs.IQueue;
  /** Disabled rules keep the wiring deployed but deliver nothing. */
  readonly enabled: boolean;
  /** How long EventBridge keeps trying to deliver an event to Lambda. */
  readonly deliveryMaxEventAge: Duration;
  /** How many delivery attempts EventBridge makes before the dead-letter queue. */
  readonly deliveryRetryAttempts: number;
}

/** The physical name of a route's rule: `alchemiser-<EventType>-to-<consumer>-<stage>`. */
export function ruleNameFor(route: DeliveredRoute, stage: string): string {
  const name = `alchemiser-${route.event_type}-to-${route.consumer}-${stage}`;
  if (name.length > 64) {
    throw new Error(`Rule name ${name} is longer than EventBridge's 64 characters: use a shorter stage name.`);
  }
  return name;
}

/**
 * One rule per route of the routing table, matching exactly the `source` and `detail-type` the
 * producer publishes, with the consumer's Lambda as target. Delivery failures (throttling,
 * Lambda unavailable) are retried by the rule's RetryPolicy and then sent to the dead-letter
 * queue; the target adds the Lambda permission and the queue policy for this rule only.
 */
export class RoutingRules extends Construct {
  /** Rules keyed by event type, in routing-table order. */
  public readonly rules = new Map<string, events.Rule>();
  /**
   * Physical rule names keyed by event type. Metrics and alarms use these literal names rather
   * than `rule.ruleName`, a `Ref` whose value for a rule on a custom bus is not just the name.
   */
  public readonly ruleNames = new Map<string, string>();

  constructor(scope: Construct, id: string, props: RoutingRulesProps) {
    super(scope, id);
    for (const route of props.routes) {
      const consumer = props.consumers.get(route.consumer);
      if (consumer === undefined) {
        throw new Error(`Route ${route.event_type}: no function for consumer "${route.consumer}"`);
      }
      const ruleName = ruleNameFor(route, props.stage);
      const rule = new events.Rule(this, route.event_type, {
        ruleName,
        description: `${route.event_type} from ${route.source} to ${route.consumer}`,
        eventBus: props.bus,
        enabled: props.enabled,
        eventPattern: { source: [route.source], detailType: [route.event_type] },
      });
      rule.addTarget(
        new targets.LambdaFunction(consumer, {
          retryAttempts: props.deliveryRetryAttempts,
          maxEventAge: props.deliveryMaxEventAge,
          deadLetterQueue: props.deadLetterQueue,
        }),
      );
      this.rules.set(route.event_type, rule);
      this.ruleNames.set(route.event_type, ruleName);
    }
  }
}
