import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { RuleSpec } from './routing-table';
import type { Owner } from './stage-config';
import { ignoreCfnLint } from './template-checks';

/** EventBridge's limit on a rule name. */
export const RULE_NAME_MAX_LENGTH = 64;

/** Properties of {@link RoutingRules}. */
export interface RoutingRulesProps {
  readonly stage: string;
  readonly bus: events.IEventBus;
  /** The rules to create, straight from the routing table (see {@link rulesOwnedHere}). */
  readonly rules: readonly RuleSpec[];
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

/** The physical name of a handler's rule: the routing table's stem and the stage. */
export function ruleNameFor(spec: RuleSpec, stage: string): string {
  const name = `${spec.name}-${stage}`;
  if (name.length > RULE_NAME_MAX_LENGTH) {
    throw new Error(
      `Rule name ${name} is longer than EventBridge's ${RULE_NAME_MAX_LENGTH} characters: use a shorter stage name.`,
    );
  }
  return name;
}

/**
 * The rules a stage creates: every rule of the routing table except those of handlers the Python
 * system owns there, whose functions stay deployed but receive nothing; and without the
 * `refusedSources` (the Python sources, on a stage where the Python system owns nothing).
 */
export function rulesOwnedHere(
  rules: readonly RuleSpec[],
  owners: Readonly<Record<string, Owner>>,
  refusedSources: ReadonlySet<string> = new Set(),
): RuleSpec[] {
  return rules
    .filter((spec) => owners[spec.handler] !== 'python')
    .map((spec) => {
      const sources = spec.sources.filter((source) => !refusedSources.has(source));
      if (sources.length === 0) {
        throw new Error(`Rule ${spec.name}: every source of ${spec.event_types.join(', ')} is refused on this stage (no Rust producer).`);
      }
      return { ...spec, sources };
    });
}

/**
 * One rule per consuming handler, matching every source that produces any of the handler's
 * types and exactly those types, with the handler's Lambda as target. Delivery failures
 * (throttling, Lambda unavailable) are retried by the rule's RetryPolicy and then sent to the
 * dead-letter queue; the target adds the Lambda permission and the queue policy for this rule only.
 */
export class RoutingRules extends Construct {
  /** Rules keyed by consuming handler, in routing-table order. */
  public readonly rules = new Map<string, events.Rule>();
  /**
   * Physical rule names keyed by handler. Metrics and alarms use these literal names rather
   * than `rule.ruleName`, a `Ref` whose value for a rule on a custom bus is not just the name.
   */
  public readonly ruleNames = new Map<string, string>();

  constructor(scope: Construct, id: string, props: RoutingRulesProps) {
    super(scope, id);
    for (const spec of props.rules) {
      const consumer = props.consumers.get(spec.handler);
      if (consumer === undefined) {
        throw new Error(`Rule ${spec.name}: no function for handler "${spec.handler}"`);
      }
      const ruleName = ruleNameFor(spec, props.stage);
      const rule = new events.Rule(this, spec.handler, {
        ruleName,
        description: `${spec.event_types.join(', ')} to ${spec.handler}`,
        eventBus: props.bus,
        enabled: props.enabled,
        eventPattern: { source: [...spec.sources], detailType: [...spec.event_types] },
      });
      rule.addTarget(
        new targets.LambdaFunction(consumer, {
          retryAttempts: props.deliveryRetryAttempts,
          maxEventAge: props.deliveryMaxEventAge,
          deadLetterQueue: props.deadLetterQueue,
        }),
      );
      for (const permission of rule.node.findAll().filter((c) => c instanceof lambda.CfnPermission)) {
        ignoreCfnLint(permission, {
          id: 'ES1007',
          reason:
            'The function has its EventInvokeConfig with an OnFailure destination (HandlerFunction). The ' +
            'rule matches the two FunctionName values literally, and CDK names the function by ARN in ' +
            'the permission and by name in the invoke config.',
        });
      }
      this.rules.set(spec.handler, rule);
      this.ruleNames.set(spec.handler, ruleName);
    }
  }
}
