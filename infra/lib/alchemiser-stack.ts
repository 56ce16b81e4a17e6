import { Duration, Stack, StackProps, Tags } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { WorkflowAlarms } from './alarms';
import type { ArtifactLocator } from './artifacts';
import { BrokerSecret } from './broker-secret';
import { WorkflowDashboard } from './dashboard';
import { TradingEventBus } from './event-bus';
import { HandlerFunction } from './handler-function';
import { profileFor } from './handler-profiles';
import { IdempotencyTable } from './idempotency-table';
import { ParkingQueue } from './parking-queue';
import { RoutingRules } from './routing-rules';
import { RoutingTable, deliveredRoutes, publishingHandlers } from './routing-table';
import { StackOutputs } from './stack-outputs';
import type { StageConfig } from './stage-config';
import { StrategySchedule } from './strategy-schedule';

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

/** Environment variable names the stack sets itself; `extraEnvironment` may not override them. */
export const MANAGED_ENVIRONMENT = [
  'STAGE',
  'USE_EVENTBRIDGE',
  'EVENTBRIDGE_BUS_NAME',
  'EVENTBRIDGE_VERIFY_BUS',
  'FAILURE_QUEUE_URL',
  'EVENTBRIDGE_OUTBOX_QUEUE_URL',
  'IDEMPOTENCY_TABLE_NAME',
  'RUST_LOG',
  'BROKER',
  'BROKER_SECRET_NAME',
  'ALLOW_REPLAY_EXECUTION',
  'STRATEGY_ALLOCATION',
] as const;

/** Properties of {@link AlchemiserStack}. */
export interface AlchemiserStackProps extends StackProps {
  readonly config: StageConfig;
  readonly routing: RoutingTable;
  readonly artifacts: ArtifactLocator;
}

/**
 * Everything one stage of the Alchemiser event backbone needs: the bus and its archive, the
 * dead-letter queue and the outbox, the idempotency table, the broker secret, one Lambda per
 * handler, one rule per route (from the routing table), the strategy schedule, alarms, a
 * dashboard, and the outputs/SSM parameters that let clients find them.
 */
export class AlchemiserStack extends Stack {
  public readonly eventBus: TradingEventBus;
  public readonly deadLetterQueue: ParkingQueue;
  public readonly outbox: ParkingQueue;
  public readonly idempotencyTable: IdempotencyTable;
  public readonly brokerSecret: BrokerSecret;
  /** Handler name → function, in routing-table order. */
  public readonly functions = new Map<string, HandlerFunction>();
  public readonly routingRules: RoutingRules;
  public readonly strategySchedule?: StrategySchedule;
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

    this.eventBus = new TradingEventBus(this, 'EventBus', {
      stage,
      sourcePrefix: routing.source_prefix,
      archiveRetention: ARCHIVE_RETENTION,
    });
    const bus = this.eventBus.bus;
    this.deadLetterQueue = new ParkingQueue(this, 'DeadLetterQueue', {
      queueName: `alchemiser-event-dlq-${stage}`,
      purpose: 'events that rules, Lambda async invocation or the schedule could not deliver or handle',
      retain: config.retainData,
    });
    this.outbox = new ParkingQueue(this, 'Outbox', {
      queueName: `alchemiser-event-outbox-${stage}`,
      purpose: 'events a publisher could not put on the bus',
      retain: config.retainData,
    });
    const dlq = this.deadLetterQueue.queue;
    const outbox = this.outbox.queue;
    this.idempotencyTable = new IdempotencyTable(this, 'IdempotencyTable', { stage, retain: config.retainData });
    this.brokerSecret = new BrokerSecret(this, 'BrokerSecret', { stage, retain: config.retainData });

    const commonEnvironment: Record<string, string> = {
      STAGE: stage,
      USE_EVENTBRIDGE: 'true',
      EVENTBRIDGE_BUS_NAME: bus.eventBusName,
      EVENTBRIDGE_VERIFY_BUS: 'true',
      FAILURE_QUEUE_URL: dlq.queueUrl,
      EVENTBRIDGE_OUTBOX_QUEUE_URL: outbox.queueUrl,
      IDEMPOTENCY_TABLE_NAME: this.idempotencyTable.table.tableName,
      RUST_LOG: 'info',
    };
    for (const name of Object.keys(config.extraEnvironment)) {
      if ((MANAGED_ENVIRONMENT as readonly string[]).includes(name)) {
        throw new Error(`extraEnvironment of stage ${stage} sets ${name}, which the stack manages itself.`);
      }
    }

    const publishers = publishingHandlers(routing);
    for (const handler of routing.handlers) {
      const profile = profileFor(handler);
      const fn = new HandlerFunction(this, `Handler-${handler}`, {
        stage,
        handler,
        codePath: artifacts.codePath(handler),
        architecture: config.architecture,
        memorySize: profile.memorySize,
        timeout: profile.timeout,
        logRetention: config.logRetentionDays,
        retainLogs: config.retainData,
        environment: {
          ...commonEnvironment,
          ...this.handlerEnvironment(handler, profile.usesBroker, config),
          ...config.extraEnvironment,
        },
        failureQueue: dlq,
        asyncRetryAttempts: ASYNC_RETRY_ATTEMPTS,
        asyncMaxEventAge: STALE_EVENT_AGE,
      });
      if (publishers.has(handler)) {
        fn.grantPublish(bus, outbox);
      } else {
        fn.grantVerifyBus(bus);
      }
      this.idempotencyTable.grantIdempotencyStore(fn.role);
      if (profile.usesBroker) {
        this.brokerSecret.grantReadBrokerKeys(fn.role);
      }
      this.functions.set(handler, fn);
    }
    const lambdas = new Map([...this.functions].map(([handler, fn]) => [handler, fn.function]));

    const routes = deliveredRoutes(routing);
    this.routingRules = new RoutingRules(this, 'Rules', {
      stage,
      bus,
      routes,
      consumers: lambdas,
      deadLetterQueue: dlq,
      enabled: config.rulesEnabled,
      deliveryMaxEventAge: STALE_EVENT_AGE,
      deliveryRetryAttempts: DELIVERY_RETRY_ATTEMPTS,
    });

    const strategy = lambdas.get('strategy');
    if (strategy !== undefined) {
      this.strategySchedule = new StrategySchedule(this, 'StrategySchedule', {
        stage,
        strategyFunction: strategy,
        deadLetterQueue: dlq,
        enabled: config.scheduleEnabled,
        maxEventAge: STALE_EVENT_AGE,
        retryAttempts: DELIVERY_RETRY_ATTEMPTS,
      });
    }

    this.alarms = new WorkflowAlarms(this, 'Alarms', {
      stage,
      eventBusName: bus.eventBusName,
      deadLetterQueue: dlq,
      outboxQueue: outbox,
      ruleNames: this.routingRules.ruleNames,
      functions: lambdas,
      alarmEmail: config.alarmEmail,
    });
    this.dashboard = new WorkflowDashboard(this, 'Dashboard', {
      stage,
      eventBusName: bus.eventBusName,
      routes,
      ruleNames: this.routingRules.ruleNames,
      functions: lambdas,
      deadLetterQueue: dlq,
      outboxQueue: outbox,
    });

    new StackOutputs(this, 'Outputs', {
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
      ],
    });
  }

  /** The variables only some handlers get: broker settings, replay guard, strategy allocation. */
  private handlerEnvironment(handler: string, usesBroker: boolean, config: StageConfig): Record<string, string> {
    const env: Record<string, string> = {};
    if (usesBroker) {
      env.BROKER = config.broker;
      env.BROKER_SECRET_NAME = this.brokerSecret.secretName;
    }
    if (handler === 'execution') {
      env.ALLOW_REPLAY_EXECUTION = String(config.allowReplayExecution);
    }
    if (handler === 'strategy') {
      env.STRATEGY_ALLOCATION = JSON.stringify(config.strategyAllocation);
    }
    return env;
  }
}
