import { Duration, Stack, StackProps, Tags } from 'aws-cdk-lib';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { Construct } from 'constructs';
import { LIMIT_ALARMS, WorkflowAlarms } from './alarms';
import type { ArtifactLocator } from './artifacts';
import { BrokerSecret } from './broker-secret';
import { WorkflowDashboard } from './dashboard';
import { TradingEventBus } from './event-bus';
import { FunctionSchedule } from './function-schedule';
import { HandlerFunction } from './handler-function';
import { profileOf } from './handler-profiles';
import { IdempotencyTable } from './idempotency-table';
import { KeptMessagesQueue } from './kept-messages-queue';
import { NotificationKey } from './notification-key';
import { OperatorRole } from './operator-role';
import { OrderFollowUpQueue } from './order-follow-up-queue';
import { RoutingRules, rulesOwnedHere } from './routing-rules';
import {
  RoutingTable,
  needs,
  specOf,
  type HandlerSchedule,
  type HandlerSpec,
  type Need,
  pythonSources,
  pythonSourcesOwnedBy,
  rustProducers,
  rustSourceOf,
  rustSources,
  signersConsumedBy,
  sourcesOf,
  typesPublishedBy,
} from './routing-table';
import { SigningKeys } from './signing-keys';
import { StackOutputs } from './stack-outputs';
import { describeStrategyRunAt, strategyScheduleExpression } from './strategy-schedule';
import { TradingHalt } from './trading-halt';
import { pythonOwnedHandlers, type Owner, type RiskLimits, type StageConfig } from './stage-config';
import { WorkflowLedgerTable } from './workflow-ledger-table';
import { WorkflowNotifications } from './workflow-notifications';

/**
 * How long an event may wait for delivery or a successful handler run before it becomes a dead
 * letter in the DLQ. Two hours, not EventBridge's default 24 h: an event that old describes a market that has
 * moved, and executing a morning rebalance the next day would be wrong. A person decides what to
 * resend from the DLQ instead. Two hours still rides out a long throttling or service event.
 */
export const STALE_EVENT_AGE = Duration.hours(2);
/** Delivery attempts of a rule or the schedule; EventBridge backs off, so the age limit usually binds first. */
export const DELIVERY_RETRY_ATTEMPTS = 50;
/** Lambda async retries of a handler error (the maximum); permanent errors the handler records as dead letters itself. */
export const ASYNC_RETRY_ATTEMPTS = 2;
/** How long the archive keeps events for replay. */
export const ARCHIVE_RETENTION = Duration.days(365);
/**
 * The variables every function gets, whatever its spec: the bus, the queues, the idempotency
 * table, the mode, and the signing keys (`SIGNING_KEY_ID` for the handlers that publish).
 */
export const COMMON_ENVIRONMENT = [
  'STAGE',
  'ALCHEMISER_MODE',
  'USE_EVENTBRIDGE',
  'EVENTBRIDGE_BUS_NAME',
  'EVENTBRIDGE_VERIFY_BUS',
  'EVENTBRIDGE_SOURCE_PREFIX',
  'DEAD_LETTER_QUEUE_URL',
  'EVENTBRIDGE_OUTBOX_QUEUE_URL',
  'IDEMPOTENCY_TABLE_NAME',
  'RUST_LOG',
  'SIGNING_KEY_ID',
  'VERIFY_KEY_IDS',
  'UNSIGNED_SOURCES',
] as const;

/**
 * Environment variable names the stack sets itself, which `extraEnvironment` may not override:
 * the common ones and every variable a spec's needs bring.
 */
export function managedEnvironment(routing: Pick<RoutingTable, 'specs'>): string[] {
  return [...new Set([...COMMON_ENVIRONMENT, ...routing.specs.flatMap((spec) => spec.variables)])];
}

/**
 * Construct ids and names of the schedules deployed before the registry existed, kept because
 * renaming a schedule replaces it and operators and tests/e2e know these names. Any other
 * handler's schedule is `<Handler>Schedule`, named `alchemiser-<handler>-<stage>` (see
 * {@link scheduleNaming}). The registry has no name for a schedule; if it gets one, this goes.
 */
const KEPT_SCHEDULE_NAMES: Readonly<Record<string, ScheduleNaming & { readonly kind: HandlerSchedule['kind'] }>> = {
  monitor: {
    kind: 'every',
    id: 'SweepSchedule',
    name: 'workflow-sweep',
    purpose: 'Lets the monitor time out stalled workflows and fail those with dead letters',
  },
};

/** A schedule's construct id, its name between `alchemiser-` and `-<stage>`, and its description. */
interface ScheduleNaming {
  readonly id: string;
  readonly name: string;
  readonly purpose: string;
}

/**
 * Execution's environment for the stage's pre-trade limits: one variable per limit the stage
 * sets, none for the others (Rust then applies its safe default). Decimals stay strings.
 */
export function riskLimitEnvironment(limits: RiskLimits): Record<string, string> {
  const env: Record<string, string> = {};
  if (limits.maxOrderNotional !== undefined) env.MAX_ORDER_NOTIONAL = limits.maxOrderNotional;
  if (limits.maxPlanTurnover !== undefined) env.MAX_PLAN_TURNOVER = limits.maxPlanTurnover;
  if (limits.maxDailyBuyNotional !== undefined) env.MAX_DAILY_BUY_NOTIONAL = limits.maxDailyBuyNotional;
  if (limits.maxDailyOrders !== undefined) env.MAX_DAILY_ORDERS = String(limits.maxDailyOrders);
  if (limits.maxFailedSellNotional !== undefined) env.MAX_FAILED_SELL_NOTIONAL = limits.maxFailedSellNotional;
  if (limits.buyAllowList !== undefined) env.BUY_ALLOW_LIST = limits.buyAllowList.join(',');
  return env;
}

/** Properties of {@link AlchemiserStack}. */
export interface AlchemiserStackProps extends StackProps {
  readonly config: StageConfig;
  readonly routing: RoutingTable;
  readonly artifacts: ArtifactLocator;
}

/**
 * Everything one stage of the Alchemiser event backbone needs: the bus and its archive, the
 * dead-letter queue, the outbox and the order follow-up queue, the idempotency table, the workflow ledger, the broker
 * secret, one Lambda per handler, one rule per consuming handler (from the routing table, except
 * handlers the Python system owns on this stage), the strategy and sweep schedules, workflow
 * notifications, alarms, a dashboard, and the outputs/SSM parameters that let clients find them.
 */
export class AlchemiserStack extends Stack {
  /** `alchemiser-operator-<stage>`: what people assume to redrive, drain, replay, halt. */
  public readonly operatorRole: OperatorRole;
  public readonly eventBus: TradingEventBus;
  public readonly deadLetterQueue: KeptMessagesQueue;
  public readonly outbox: KeptMessagesQueue;
  /** Execution's order follow-ups (issue 20). */
  public readonly followUps: OrderFollowUpQueue;
  public readonly idempotencyTable: IdempotencyTable;
  public readonly ledgerTable: WorkflowLedgerTable;
  public readonly brokerSecret: BrokerSecret;
  /** `/alchemiser/<stage>/trading-halt`, the kill switch. */
  public readonly tradingHalt: TradingHalt;
  /** One HMAC key per producing Rust handler. */
  public readonly signingKeys: SigningKeys;
  /** Handler name → function, in routing-table order. */
  public readonly functions = new Map<string, HandlerFunction>();
  public readonly routingRules: RoutingRules;
  /**
   * Handler name → the schedule that invokes it, for each handler whose spec has a schedule,
   * except a handler the Python system owns on this stage (our function receives nothing).
   */
  public readonly schedules = new Map<string, FunctionSchedule>();
  public readonly notificationKey: NotificationKey;
  public readonly notifications: WorkflowNotifications;
  public readonly alarms: WorkflowAlarms;
  public readonly dashboard: WorkflowDashboard;

  constructor(scope: Construct, id: string, props: AlchemiserStackProps) {
    super(scope, id, {
      description: `Alchemiser event backbone (stage ${props.config.stage})`,
      terminationProtection: props.config.retainData,
      ...props,
    });
    const { config, routing, artifacts } = props;
    const { stage } = config;
    Tags.of(this).add('project', 'alchemiser');
    Tags.of(this).add('stage', stage);

    // The Python system's sources reach the bus, the archive and the rules only on a stage where it
    // owns a handler's job; elsewhere the bus refuses them and nothing matches them.
    const pythonOwners = pythonOwnedHandlers(config);
    const refusedSources = new Set(pythonOwners.length > 0 ? [] : pythonSources(routing));
    const accepted = (sources: readonly string[]) => sources.filter((source) => !refusedSources.has(source));

    this.operatorRole = new OperatorRole(this, 'Operator', { stage });
    this.eventBus = new TradingEventBus(this, 'EventBus', {
      stage,
      archivedSources:
        pythonOwners.length > 0 ? { prefixes: [routing.source_prefix, routing.python_source_prefix] } : { exactly: rustSources(routing) },
      archiveRetention: ARCHIVE_RETENTION,
      operatorRole: this.operatorRole.role,
    });
    const bus = this.eventBus.bus;
    this.deadLetterQueue = new KeptMessagesQueue(this, 'DeadLetterQueue', {
      queueName: `alchemiser-event-dlq-${stage}`,
      purpose: 'events that rules, Lambda async invocation or the schedules could not deliver or handle',
      retain: config.retainData,
    });
    this.outbox = new KeptMessagesQueue(this, 'Outbox', {
      queueName: `alchemiser-event-outbox-${stage}`,
      purpose: 'events a publisher could not put on the bus',
      retain: config.retainData,
    });
    const dlq = this.deadLetterQueue.queue;
    const outbox = this.outbox.queue;
    this.followUps = new OrderFollowUpQueue(this, 'OrderFollowUps', { stage, deadLetterQueue: dlq, retain: config.retainData });
    this.idempotencyTable = new IdempotencyTable(this, 'IdempotencyTable', { stage, retain: config.retainData });
    this.ledgerTable = new WorkflowLedgerTable(this, 'WorkflowLedger', { stage, retain: config.retainData });
    this.brokerSecret = new BrokerSecret(this, 'BrokerSecret', { stage, retain: config.retainData });
    this.tradingHalt = new TradingHalt(this, 'TradingHalt', { stage });
    this.signingKeys = new SigningKeys(this, 'SigningKeys', {
      stage,
      signers: rustProducers(routing),
      retain: config.retainData,
      generation: config.signingKeyGeneration,
    });

    const managed = managedEnvironment(routing);
    for (const name of Object.keys(config.extraEnvironment)) {
      if (managed.includes(name)) {
        throw new Error(`extraEnvironment of stage ${stage} sets ${name}, which the stack manages itself.`);
      }
    }
    // The stack has one follow-up queue, and a queue delivers each message to one consumer.
    const followingUp = routing.handlers.filter((h) => needs(routing, h, 'order_follow_ups'));
    if (followingUp.length > 1) {
      throw new Error(
        `Handlers ${followingUp.join(' and ')} all need order_follow_ups, but the stack has one follow-up queue ` +
          `(alchemiser-order-follow-up-${stage}), whose messages go to one function: give the others a need of their own.`,
      );
    }

    for (const handler of routing.handlers) {
      const spec = specOf(routing, handler);
      const profile = profileOf(spec);
      const owner = ownerOf(config, handler);
      const fn = new HandlerFunction(this, `Handler-${handler}`, {
        stage,
        handler,
        codePath: artifacts.codePath(handler),
        architecture: config.architecture,
        memorySize: profile.memorySize,
        timeout: profile.timeout,
        logRetention: config.logRetentionDays,
        retainLogs: config.retainData,
        environment: { ...this.environmentOf(spec, owner, config, routing), ...config.extraEnvironment },
        deadLetterQueue: dlq,
        asyncRetryAttempts: ASYNC_RETRY_ATTEMPTS,
        asyncMaxEventAge: STALE_EVENT_AGE,
      });
      this.grantAccess(fn, spec, owner, routing);
      this.functions.set(handler, fn);
    }
    // Each Rust source is its function's (and the operator's, who republishes); the Python ones
    // are nobody's on a stage where the Python system owns nothing.
    for (const handler of rustProducers(routing)) {
      this.eventBus.reserveSource(rustSourceOf(routing, handler), handler, this.functionOf(handler).role);
    }
    this.eventBus.refuseSources('RefusePythonSources', [...refusedSources]);
    this.brokerSecret.restrictReadersTo(routing.handlers.filter((h) => needs(routing, h, 'broker')).map((h) => this.functionOf(h).role));
    // The handler that needs order_follow_ups follows its orders up through the queue (send, and
    // its messages delivered back to it) where the rules deliver.
    for (const handler of followingUp) this.followUps.connect(this.functionOf(handler), config.rulesEnabled);
    const lambdas = new Map([...this.functions].map(([handler, fn]) => [handler, fn.function]));

    this.routingRules = new RoutingRules(this, 'Rules', {
      stage,
      bus,
      rules: rulesOwnedHere(routing.rules, config.owners, refusedSources),
      consumers: lambdas,
      deadLetterQueue: dlq,
      enabled: config.rulesEnabled,
      deliveryMaxEventAge: STALE_EVENT_AGE,
      deliveryRetryAttempts: DELIVERY_RETRY_ATTEMPTS,
    });

    // A handler whose job the Python system does on this stage gets no schedule: it receives nothing.
    for (const spec of routing.specs) {
      if (spec.schedule !== null && ownerOf(config, spec.handler) !== 'python') {
        this.schedules.set(spec.handler, this.scheduleOf(spec, spec.schedule, config));
      }
    }

    this.notificationKey = new NotificationKey(this, 'NotificationKey', { stage, retain: config.retainData });
    this.notifications = new WorkflowNotifications(this, 'Notifications', {
      stage,
      bus,
      encryptionKey: this.notificationKey.key,
      failedSources: accepted(sourcesOf(routing, ['WorkflowFailed'])),
      completedSources: config.notifyOnCompleted ? accepted(sourcesOf(routing, ['WorkflowCompleted'])) : undefined,
      email: config.notificationEmail,
      enabled: config.rulesEnabled,
      deadLetterQueue: dlq,
      deliveryMaxEventAge: STALE_EVENT_AGE,
      deliveryRetryAttempts: DELIVERY_RETRY_ATTEMPTS,
    });

    // Alarms and the dashboard label each rule by what it serves: a handler, or a notification.
    const ruleNames = new Map([...this.routingRules.ruleNames, ...this.notifications.ruleNames]);
    this.alarms = new WorkflowAlarms(this, 'Alarms', {
      stage,
      eventBusName: bus.eventBusName,
      deadLetterQueue: dlq,
      outboxQueue: outbox,
      followUpQueue: this.followUps.queue,
      ruleNames,
      functions: lambdas,
      encryptionKey: this.notificationKey.key,
      alarmEmail: config.alarmEmail,
    });
    this.dashboard = new WorkflowDashboard(this, 'Dashboard', {
      stage,
      eventBusName: bus.eventBusName,
      routing,
      ruleNames,
      functions: lambdas,
      deadLetterQueue: dlq,
      outboxQueue: outbox,
      refusalChecks: LIMIT_ALARMS.map((limit) => limit.check),
    });

    const outputs = new StackOutputs(this, 'Outputs', {
      stage,
      values: [
        { outputId: 'EventBusName', parameter: 'bus-name', value: bus.eventBusName, description: 'Name of the trading event bus' },
        { outputId: 'EventBusArn', parameter: 'bus-arn', value: bus.eventBusArn, description: 'ARN of the trading event bus' },
        { outputId: 'DeadLetterQueueUrl', parameter: 'dlq-url', value: dlq.queueUrl, description: 'URL of the dead-letter queue' },
        { outputId: 'OutboxQueueUrl', parameter: 'outbox-url', value: outbox.queueUrl, description: 'URL of the publisher outbox queue' },
        {
          outputId: 'IdempotencyTableName',
          parameter: 'idempotency-table',
          value: this.idempotencyTable.table.tableName,
          description: 'Name of the idempotency table',
        },
        {
          outputId: 'WorkflowLedgerTableName',
          parameter: 'ledger-table',
          value: this.ledgerTable.table.tableName,
          description: 'Name of the workflow ledger table',
        },
        {
          outputId: 'WorkflowNotificationTopicArn',
          parameter: 'notification-topic-arn',
          value: this.notifications.topic.topicArn,
          description: 'ARN of the workflow notification topic',
        },
        {
          outputId: 'FollowUpQueueUrl',
          parameter: 'follow-up-queue-url',
          value: this.followUps.queue.queueUrl,
          description: "URL of execution's order follow-up queue",
        },
        {
          // What the stage's functions accept (VERIFY_KEY_IDS of every signer, UNSIGNED_SOURCES):
          // `alchemiser dlq redrive`, `outbox drain` and `invoke --stage` verify with it before
          // they republish or run an event.
          outputId: 'EventAuthenticity',
          parameter: 'authenticity',
          value: Stack.of(this).toJsonString({
            verify_key_ids: this.signingKeys.verifyKeyIdMap(this.signingKeys.signers),
            unsigned_sources: pythonSourcesOwnedBy(routing, pythonOwnedHandlers(config)),
          }),
          description: 'Signing keys and unsigned sources the functions accept (JSON)',
        },
        {
          outputId: 'OperatorRoleArn',
          parameter: 'operator-role-arn',
          value: this.operatorRole.role.roleArn,
          description: 'ARN of the role operators assume to redrive, drain, replay and halt',
        },
      ],
    });
    this.grantOperator(routing, [...accepted(rustSources(routing)), ...accepted(pythonSources(routing))], outputs);
  }

  /**
   * What the operator role may do (see OperatorRole): republish any accepted source and type,
   * replay, work through the DLQ and the outbox, read the ledger and the stage's parameters, put
   * new broker keys (not read them), halt and resume trading, and verify every signature (the operations verify before
   * they republish).
   */
  private grantOperator(routing: RoutingTable, sources: readonly string[], outputs: StackOutputs): void {
    const operator = this.operatorRole;
    operator.grantRepublish({ bus: this.eventBus.bus, sources, detailTypes: routing.routes.map((r) => r.event_type) });
    operator.grantReplay(this.eventBus.archive);
    this.deadLetterQueue.grantDrain(operator.role, 'RedriveDeadLetters');
    this.outbox.grantDrain(operator.role, 'DrainOutbox');
    this.deadLetterQueue.grantSetAside(operator.role, 'SetAsideRefusedOutboxRecords');
    this.ledgerTable.grantReadLedger(operator.role);
    this.brokerSecret.grantPutBrokerKeys(operator.role);
    this.tradingHalt.grantHaltAndResume(operator.role);
    this.signingKeys.grantVerify(operator.role, this.signingKeys.signers);
    operator.grantReadStageParameters(outputs.parameters);
  }

  /**
   * The schedule that invokes a handler, by its spec's kind:
   * - `market_days`: at the stage's `strategyRunAt` on weekdays (the handler asks the broker's
   *   calendar whether the market is open); it starts workflows, so it fires when the stage's
   *   schedule is enabled, and a firing may be retried for as long as any event;
   * - `every`: every N minutes; what it publishes joins workflows, so it runs where the rules
   *   deliver, and a firing not delivered within one interval is superseded by the next one.
   */
  private scheduleOf(spec: HandlerSpec, schedule: HandlerSchedule, config: StageConfig): FunctionSchedule {
    const { stage } = config;
    const { id, name, purpose } = scheduleNaming(spec.handler, schedule, config);
    const common = {
      scheduleName: `alchemiser-${name}-${stage}`,
      description: `${purpose} (${stage})`,
      targetFunction: this.functionOf(spec.handler).function,
      deadLetterQueue: this.deadLetterQueue.queue,
      retryAttempts: DELIVERY_RETRY_ATTEMPTS,
    };
    switch (schedule.kind) {
      case 'market_days':
        return new FunctionSchedule(this, id, {
          ...common,
          schedule: strategyScheduleExpression(config.strategyRunAt),
          enabled: config.scheduleEnabled,
          maxEventAge: STALE_EVENT_AGE,
        });
      case 'every': {
        const interval = Duration.minutes(schedule.minutes);
        return new FunctionSchedule(this, id, {
          ...common,
          schedule: scheduler.ScheduleExpression.rate(interval),
          enabled: config.rulesEnabled,
          maxEventAge: interval,
        });
      }
    }
  }

  /** The function of `handler`, or a clear error when the routing table has no such handler. */
  private functionOf(handler: string): HandlerFunction {
    const fn = this.functions.get(handler);
    if (fn === undefined) throw new Error(`The routing table has no "${handler}" handler, which the stack needs.`);
    return fn;
  }

  /**
   * A function's environment: what every function reads (bus, queues, idempotency table, mode,
   * signing keys), then what each need of its spec brings ({@link needEnvironment}), then what a
   * shadow gets from its owner. A variable set for a need must be one the registry lists for the
   * handler (routes.json `variables`), or the synth fails.
   */
  private environmentOf(spec: HandlerSpec, owner: Owner, config: StageConfig, routing: RoutingTable): Record<string, string> {
    const { handler } = spec;
    const shadow = owner === 'shadow';
    const env: Record<string, string> = {
      STAGE: config.stage,
      // A Python-owned function stays live: it receives nothing, and switching back is a config change.
      ALCHEMISER_MODE: shadow ? 'shadow' : 'live',
      USE_EVENTBRIDGE: 'true',
      EVENTBRIDGE_BUS_NAME: this.eventBus.bus.eventBusName,
      EVENTBRIDGE_VERIFY_BUS: 'true',
      // The publish grant allows `<prefix>.<handler>` only: the functions must build the same source.
      EVENTBRIDGE_SOURCE_PREFIX: routing.source_prefix,
      DEAD_LETTER_QUEUE_URL: this.deadLetterQueue.queue.queueUrl,
      EVENTBRIDGE_OUTBOX_QUEUE_URL: this.outbox.queue.queueUrl,
      IDEMPOTENCY_TABLE_NAME: this.idempotencyTable.table.tableName,
      RUST_LOG: 'info',
    };
    // Signed events (issue 21): a publisher signs with its own key; every function verifies the
    // signatures of the producers of what it consumes, and accepts unsigned events only from the
    // Python sources whose producer the Python system owns on this stage (none on most stages).
    // After a rotation the producer signs with the new key and consumers verify with the new and
    // the previous one (SigningKeys), so events signed before the deploy still pass.
    if (this.signingKeys.keys.has(handler)) {
      env.SIGNING_KEY_ID = this.signingKeys.keyOf(handler).keyArn;
    }
    env.VERIFY_KEY_IDS = this.signingKeys.verifyKeyIds(signersConsumedBy(routing, handler));
    env.UNSIGNED_SOURCES = pythonSourcesOwnedBy(routing, pythonOwnedHandlers(config)).join(',');
    for (const need of spec.needs) {
      for (const [name, value] of Object.entries(this.needEnvironment(need, config))) {
        if (!spec.variables.includes(name)) {
          throw new Error(
            `The stack sets ${name} for need ${need} of handler "${handler}", but the registry does not list it among ` +
              `the handler's variables (${spec.variables.join(', ')}): Need::variables in lib/events/src/registry.rs ` +
              'and environmentOf in infra/lib/alchemiser-stack.ts must agree.',
          );
        }
        env[name] = value;
      }
    }
    if (shadow) {
      // A shadow records what it would have emitted in the workflow ledger.
      Object.assign(env, this.needEnvironment('workflow_ledger', config));
    }
    return env;
  }

  /**
   * The variables one need brings (Need::variables in lib/events/src/registry.rs); the limits of
   * `risk_limits` only when the stage sets them (Rust has a safe default for each).
   */
  private needEnvironment(need: Need, config: StageConfig): Record<string, string> {
    switch (need) {
      case 'broker':
        // A shadow reads the account for its dry run too; it cannot trade with it: its code wraps
        // the broker in one that refuses every order and runs every plan dry.
        return { BROKER: config.broker, BROKER_SECRET_NAME: this.brokerSecret.secretName };
      case 'trading_halt':
        return { TRADING_HALT_PARAMETER: this.tradingHalt.parameterName };
      case 'order_follow_ups':
        return { FOLLOW_UP_QUEUE_URL: this.followUps.queue.queueUrl };
      case 'risk_limits':
        return { ALLOW_REPLAY_EXECUTION: String(config.allowReplayExecution), ...riskLimitEnvironment(config.riskLimits) };
      case 'strategy_allocation':
        return {
          STRATEGY_ALLOCATION: JSON.stringify(config.strategyAllocation),
          STRATEGY_RUN_AT: JSON.stringify({ anchor: config.strategyRunAt.anchor, offsetMinutes: config.strategyRunAt.offsetMinutes }),
        };
      case 'workflow_deadline':
        return { WORKFLOW_DEADLINE_SECONDS: String(config.workflowDeadlineMinutes * 60) };
      case 'workflow_ledger':
        return { LEDGER_TABLE_NAME: this.ledgerTable.table.tableName, LEDGER_RETENTION_DAYS: String(config.ledgerRetentionDays) };
      case 'dead_letters':
        // A shadow's dead letters are the shadow's: the sweep must not fail the live owner's workflow.
        return {
          SHADOW_FUNCTIONS: Object.entries(config.owners)
            .filter(([, who]) => who === 'shadow')
            .map(([name]) => name)
            .sort()
            .join(','),
        };
    }
  }

  /**
   * A function's IAM grants, each on its own resource (see HandlerFunction and the tables): what
   * every function gets, then what each need of its spec brings ({@link grantNeed}), then a
   * shadow's ledger records.
   */
  private grantAccess(fn: HandlerFunction, spec: HandlerSpec, owner: Owner, routing: RoutingTable): void {
    const { handler } = spec;
    const shadow = owner === 'shadow';
    fn.grantVerifyBus(this.eventBus.bus);
    this.idempotencyTable.grantIdempotencyStore(fn.role, handler);
    // A shadow signs too (what it would have emitted, for the ledger); it has no PutEvents to publish it with.
    if (this.signingKeys.keys.has(handler)) {
      this.signingKeys.reserveSigning(handler, fn.role);
    }
    this.signingKeys.grantVerify(fn.role, signersConsumedBy(routing, handler));
    const produces = typesPublishedBy(routing, handler);
    // A shadow gets no events:PutEvents at all: whatever its code does, it cannot publish live.
    if (produces.length > 0 && !shadow) {
      fn.grantPublish({ bus: this.eventBus.bus, outbox: this.outbox.queue, source: rustSourceOf(routing, handler), detailTypes: produces });
    }
    for (const need of spec.needs) this.grantNeed(fn, need);
    if (shadow) {
      this.ledgerTable.grantRecordShadow(fn.role);
    }
  }

  /** The grants one need brings (for follow-ups, the constructor connects the queue). */
  private grantNeed(fn: HandlerFunction, need: Need): void {
    switch (need) {
      case 'broker':
        this.brokerSecret.grantReadBrokerKeys(fn.role);
        return;
      case 'trading_halt':
        this.tradingHalt.grantReadHalt(fn.role);
        return;
      case 'workflow_ledger':
        this.ledgerTable.grantKeepLedger(fn.role);
        return;
      case 'dead_letters':
        fn.grantPeekDeadLetters(this.deadLetterQueue.queue);
        return;
      // Connected once every function exists (the constructor).
      case 'order_follow_ups':
        return;
      // Settings only: their variables are all they bring.
      case 'risk_limits':
      case 'strategy_allocation':
      case 'workflow_deadline':
        return;
      default: {
        // A need added to NEEDS without its grants here fails to compile.
        const unknown: never = need;
        throw new Error(`No grants for need ${String(unknown)}`);
      }
    }
  }
}

/**
 * A schedule's construct id, name (between `alchemiser-` and `-<stage>`) and purpose: the kept
 * names of {@link KEPT_SCHEDULE_NAMES}, or ones derived from the handler and the schedule's kind.
 */
function scheduleNaming(handler: string, schedule: HandlerSchedule, config: StageConfig): ScheduleNaming {
  const kept = KEPT_SCHEDULE_NAMES[handler];
  if (kept !== undefined && kept.kind === schedule.kind) return kept;
  const id = `${handler.charAt(0).toUpperCase()}${handler.slice(1).replace(/-(.)/g, (_, c: string) => c.toUpperCase())}Schedule`;
  const purpose =
    schedule.kind === 'market_days'
      ? describeStrategyRunAt(config.strategyRunAt, handler)
      : `Invokes the Alchemiser ${handler} every ${schedule.minutes} minutes`;
  return { id, name: handler, purpose };
}

/** The owner of `handler` on this stage; handlers that are not ownable (the monitor) are always ours. */
function ownerOf(config: StageConfig, handler: string): Owner {
  return config.owners[handler] ?? 'rust';
}


