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
import { profileFor, type HandlerProfile } from './handler-profiles';
import { IdempotencyTable } from './idempotency-table';
import { NotificationKey } from './notification-key';
import { OperatorRole } from './operator-role';
import { OrderFollowUpQueue } from './order-follow-up-queue';
import { ParkingQueue } from './parking-queue';
import { RoutingRules, rulesOwnedHere } from './routing-rules';
import {
  RoutingTable,
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
 * How long an event may wait for delivery or a successful handler run before it is parked in the
 * DLQ. Two hours, not EventBridge's default 24 h: an event that old describes a market that has
 * moved, and executing a morning rebalance the next day would be wrong. A person decides what to
 * resend from the DLQ instead. Two hours still rides out a long throttling or service event.
 */
export const STALE_EVENT_AGE = Duration.hours(2);
/** Delivery attempts of a rule or the schedule; EventBridge backs off, so the age limit usually binds first. */
export const DELIVERY_RETRY_ATTEMPTS = 50;
/** Lambda async retries of a handler error (the maximum); permanent errors are parked by the handler itself. */
export const ASYNC_RETRY_ATTEMPTS = 2;
/** How long the archive keeps events for replay. */
export const ARCHIVE_RETENTION = Duration.days(365);
/**
 * How often the monitor sweeps the ledger for stalled workflows and dead letters. A sweep that
 * cannot be delivered within one interval is superseded by the next one, so that is its max age.
 */
export const SWEEP_INTERVAL = Duration.minutes(5);

/** The handlers that read the kill switch: execution before every order, strategy before starting a workflow. */
export const HALTED_BY_SWITCH: readonly string[] = ['strategy', 'execution'];

/** Environment variable names the stack sets itself; `extraEnvironment` may not override them. */
export const MANAGED_ENVIRONMENT = [
  'STAGE',
  'ALCHEMISER_MODE',
  'USE_EVENTBRIDGE',
  'EVENTBRIDGE_BUS_NAME',
  'EVENTBRIDGE_VERIFY_BUS',
  'EVENTBRIDGE_SOURCE_PREFIX',
  'FAILURE_QUEUE_URL',
  'EVENTBRIDGE_OUTBOX_QUEUE_URL',
  'IDEMPOTENCY_TABLE_NAME',
  'RUST_LOG',
  'BROKER',
  'BROKER_SECRET_NAME',
  'ALLOW_REPLAY_EXECUTION',
  'STRATEGY_ALLOCATION',
  'WORKFLOW_DEADLINE_SECONDS',
  'LEDGER_TABLE_NAME',
  'LEDGER_RETENTION_DAYS',
  'SIGNING_KEY_ID',
  'VERIFY_KEY_IDS',
  'UNSIGNED_SOURCES',
  'FOLLOW_UP_QUEUE_URL',
  'TRADING_HALT_PARAMETER',
  'STRATEGY_RUN_AT',
  'MAX_ORDER_NOTIONAL',
  'MAX_PLAN_TURNOVER',
  'MAX_DAILY_BUY_NOTIONAL',
  'MAX_DAILY_ORDERS',
  'MAX_FAILED_SELL_NOTIONAL',
  'BUY_ALLOW_LIST',
] as const;

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
  public readonly deadLetterQueue: ParkingQueue;
  public readonly outbox: ParkingQueue;
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
  /** Absent when the Python system owns the strategy on this stage. */
  public readonly strategySchedule?: FunctionSchedule;
  public readonly sweepSchedule: FunctionSchedule;
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
    this.deadLetterQueue = new ParkingQueue(this, 'DeadLetterQueue', {
      queueName: `alchemiser-event-dlq-${stage}`,
      purpose: 'events that rules, Lambda async invocation or the schedules could not deliver or handle',
      retain: config.retainData,
    });
    this.outbox = new ParkingQueue(this, 'Outbox', {
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

    for (const name of Object.keys(config.extraEnvironment)) {
      if ((MANAGED_ENVIRONMENT as readonly string[]).includes(name)) {
        throw new Error(`extraEnvironment of stage ${stage} sets ${name}, which the stack manages itself.`);
      }
    }

    for (const handler of routing.handlers) {
      const profile = profileFor(handler);
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
        environment: { ...this.environmentOf(handler, owner, profile, config, routing), ...config.extraEnvironment },
        failureQueue: dlq,
        asyncRetryAttempts: ASYNC_RETRY_ATTEMPTS,
        asyncMaxEventAge: STALE_EVENT_AGE,
      });
      this.grantAccess(fn, handler, owner, profile, routing);
      this.functions.set(handler, fn);
    }
    // Each Rust source is its function's (and the operator's, who republishes); the Python ones
    // are nobody's on a stage where the Python system owns nothing.
    for (const handler of rustProducers(routing)) {
      this.eventBus.reserveSource(rustSourceOf(routing, handler), handler, this.functionOf(handler).role);
    }
    this.eventBus.refuseSources('RefusePythonSources', [...refusedSources]);
    this.brokerSecret.restrictReadersTo(routing.handlers.filter((h) => profileFor(h).usesBroker).map((h) => this.functionOf(h).role));
    // Execution follows its orders up through its own queue; it receives them where the rules deliver.
    this.followUps.connect(this.functionOf('execution'), config.rulesEnabled);
    const lambdas = new Map([...this.functions].map(([handler, fn]) => [handler, fn.function]));
    const monitor = this.functionOf('monitor');

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

    // A stage whose strategy is the Python system's gets no schedule: our strategy receives nothing.
    if (ownerOf(config, 'strategy') !== 'python') {
      this.strategySchedule = new FunctionSchedule(this, 'StrategySchedule', {
        scheduleName: `alchemiser-strategy-${stage}`,
        description: `${describeStrategyRunAt(config.strategyRunAt)} (${stage})`,
        schedule: strategyScheduleExpression(config.strategyRunAt),
        targetFunction: this.functionOf('strategy').function,
        deadLetterQueue: dlq,
        enabled: config.scheduleEnabled,
        maxEventAge: STALE_EVENT_AGE,
        retryAttempts: DELIVERY_RETRY_ATTEMPTS,
      });
    }
    this.sweepSchedule = new FunctionSchedule(this, 'SweepSchedule', {
      scheduleName: `alchemiser-workflow-sweep-${stage}`,
      description: `Lets the monitor time out stalled workflows and fail those with dead letters (${stage})`,
      schedule: scheduler.ScheduleExpression.rate(SWEEP_INTERVAL),
      targetFunction: monitor.function,
      deadLetterQueue: dlq,
      // The sweep publishes WorkflowFailed: it runs where the rules deliver, like the rest of the workflow.
      enabled: config.rulesEnabled,
      maxEventAge: SWEEP_INTERVAL,
      retryAttempts: DELIVERY_RETRY_ATTEMPTS,
    });

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

  /** The function of `handler`, or a clear error when the routing table has no such handler. */
  private functionOf(handler: string): HandlerFunction {
    const fn = this.functions.get(handler);
    if (fn === undefined) throw new Error(`The routing table has no "${handler}" handler, which the stack needs.`);
    return fn;
  }

  /**
   * A function's environment: what every function reads (bus, queues, idempotency table, mode),
   * and what only some do (broker, replay guard, allocation, workflow deadline, ledger).
   */
  private environmentOf(
    handler: string,
    owner: Owner,
    profile: HandlerProfile,
    config: StageConfig,
    routing: RoutingTable,
  ): Record<string, string> {
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
      FAILURE_QUEUE_URL: this.deadLetterQueue.queue.queueUrl,
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
    if (profile.usesBroker) {
      env.BROKER = config.broker;
      // A shadow execution reads the account for its dry run too; it cannot trade with it: its
      // code wraps the broker in one that refuses every order and runs every plan dry.
      env.BROKER_SECRET_NAME = this.brokerSecret.secretName;
    }
    if (handler === 'execution') {
      env.ALLOW_REPLAY_EXECUTION = String(config.allowReplayExecution);
      env.FOLLOW_UP_QUEUE_URL = this.followUps.queue.queueUrl;
      Object.assign(env, riskLimitEnvironment(config.riskLimits));
    }
    if (handler === 'strategy') {
      env.STRATEGY_ALLOCATION = JSON.stringify(config.strategyAllocation);
      env.STRATEGY_RUN_AT = JSON.stringify({ anchor: config.strategyRunAt.anchor, offsetMinutes: config.strategyRunAt.offsetMinutes });
    }
    if (HALTED_BY_SWITCH.includes(handler)) {
      env.TRADING_HALT_PARAMETER = this.tradingHalt.parameterName;
    }
    if (handler === 'monitor' || handler === 'execution') {
      env.WORKFLOW_DEADLINE_SECONDS = String(config.workflowDeadlineMinutes * 60);
    }
    if (handler === 'monitor' || shadow) {
      env.LEDGER_TABLE_NAME = this.ledgerTable.table.tableName;
      env.LEDGER_RETENTION_DAYS = String(config.ledgerRetentionDays);
    }
    if (handler === 'monitor') {
      // A shadow's dead letters are the shadow's: the sweep must not fail the live owner's workflow.
      env.SHADOW_FUNCTIONS = Object.entries(config.owners)
        .filter(([, who]) => who === 'shadow')
        .map(([name]) => name)
        .sort()
        .join(',');
    }
    return env;
  }

  /** A function's IAM grants, each on its own resource (see HandlerFunction and the tables). */
  private grantAccess(fn: HandlerFunction, handler: string, owner: Owner, profile: HandlerProfile, routing: RoutingTable): void {
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
    if (profile.usesBroker) {
      this.brokerSecret.grantReadBrokerKeys(fn.role);
    }
    if (HALTED_BY_SWITCH.includes(handler)) {
      this.tradingHalt.grantReadHalt(fn.role);
    }
    if (handler === 'monitor') {
      this.ledgerTable.grantKeepLedger(fn.role);
      fn.grantPeekDeadLetters(this.deadLetterQueue.queue);
    }
    if (shadow) {
      this.ledgerTable.grantRecordShadow(fn.role);
    }
  }
}

/** The owner of `handler` on this stage; handlers that are not ownable (the monitor) are always ours. */
function ownerOf(config: StageConfig, handler: string): Owner {
  return config.owners[handler] ?? 'rust';
}


