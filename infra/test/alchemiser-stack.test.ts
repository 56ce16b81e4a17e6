import { Match, Template } from 'aws-cdk-lib/assertions';
import { ruleNameFor } from '../lib/routing-rules';
import { deliveredRoutes } from '../lib/routing-table';
import {
  ROUTES,
  allStatements,
  asList,
  buildStack,
  onlyResource,
  referencedId,
  resourceById,
  resourcesOf,
  templateFor,
  type PolicyProperties,
  type RoleProperties,
  type Statement,
} from './helpers';

const HANDLERS = ROUTES.handlers;
const PUBLISHERS = new Set(ROUTES.routes.map((r) => r.producer));
const BROKER_USERS = new Set(['portfolio', 'execution']);
const TIMEOUTS: Record<string, number> = { strategy: 30, portfolio: 30, execution: 120, monitor: 30 };

/** The properties of an `AWS::Lambda::Function` the tests read. */
interface FunctionProperties {
  readonly Runtime: string;
  readonly Handler: string;
  readonly Architectures: string[];
  readonly MemorySize: number;
  readonly Timeout: number;
  readonly LoggingConfig?: unknown;
  readonly Role: unknown;
  readonly Environment: { readonly Variables: Record<string, unknown> };
}

/** The properties of an `AWS::Events::Rule` the tests read. */
interface RuleProperties {
  readonly EventBusName: unknown;
  readonly EventPattern: unknown;
  readonly State: string;
  readonly Targets: unknown[];
}

interface StageCase {
  readonly stage: string;
  readonly rulesEnabled: boolean;
  readonly scheduleEnabled: boolean;
  readonly broker: 'alpaca' | 'paper';
  readonly retained: boolean;
}

const STAGES: StageCase[] = [
  { stage: 'dev', rulesEnabled: false, scheduleEnabled: false, broker: 'alpaca', retained: false },
  { stage: 'prod', rulesEnabled: true, scheduleEnabled: true, broker: 'alpaca', retained: true },
  { stage: 'e2e', rulesEnabled: true, scheduleEnabled: false, broker: 'paper', retained: false },
];

describe.each(STAGES)('stage $stage', ({ stage, rulesEnabled, scheduleEnabled, broker, retained }) => {
  let template: Template;
  beforeAll(() => {
    template = templateFor({ stage });
  });

  const busId = () => onlyResource(template, 'AWS::Events::EventBus', { Name: `alchemiser-trading-events-${stage}` })[0];
  const dlqId = () => onlyResource(template, 'AWS::SQS::Queue', { QueueName: `alchemiser-event-dlq-${stage}` })[0];
  const outboxId = () => onlyResource(template, 'AWS::SQS::Queue', { QueueName: `alchemiser-event-outbox-${stage}` })[0];
  const tableId = () => onlyResource(template, 'AWS::DynamoDB::Table', { TableName: `alchemiser-idempotency-${stage}` })[0];
  const secretId = () => onlyResource(template, 'AWS::SecretsManager::Secret', { Name: `alchemiser/${stage}/broker` })[0];
  const functionOf = (handler: string) =>
    onlyResource<FunctionProperties>(template, 'AWS::Lambda::Function', { FunctionName: `alchemiser-${handler}-${stage}` });

  describe('event bus and archive', () => {
    test('bus is named for the stage and only this account may put events', () => {
      const bus = busId();
      template.hasResourceProperties('AWS::Events::EventBusPolicy', {
        EventBusName: { Ref: bus },
        Statement: {
          Effect: 'Allow',
          Action: 'events:PutEvents',
          Principal: { AWS: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::', { Ref: 'AWS::AccountId' }, ':root']] } },
          Resource: { 'Fn::GetAtt': [bus, 'Arn'] },
        },
      });
      template.resourceCountIs('AWS::Events::EventBusPolicy', 1);
    });

    test('archive keeps every alchemiser.* event for 365 days', () => {
      template.resourceCountIs('AWS::Events::Archive', 1);
      template.hasResourceProperties('AWS::Events::Archive', {
        ArchiveName: `alchemiser-event-archive-${stage}`,
        RetentionDays: 365,
        SourceArn: { 'Fn::GetAtt': [busId(), 'Arn'] },
        EventPattern: { source: [{ prefix: `${ROUTES.source_prefix}.` }] },
      });
    });
  });

  describe('queues', () => {
    test.each(['dlq', 'outbox'])('%s: 14 days, SSE, TLS only', (kind) => {
      const [id] = onlyResource(template, 'AWS::SQS::Queue', {
        QueueName: `alchemiser-event-${kind}-${stage}`,
        MessageRetentionPeriod: 14 * 24 * 3600,
        SqsManagedSseEnabled: true,
      });
      template.hasResourceProperties('AWS::SQS::QueuePolicy', {
        Queues: [{ Ref: id }],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: 'Deny',
              Action: 'sqs:*',
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            }),
          ]),
        },
      });
      template.hasResource('AWS::SQS::Queue', {
        Properties: { QueueName: `alchemiser-event-${kind}-${stage}` },
        DeletionPolicy: retained ? 'Retain' : 'Delete',
      });
    });

    test('the DLQ accepts SendMessage from each rule, and only from the rules', () => {
      const dlq = dlqId();
      const ruleIds = Object.keys(template.findResources('AWS::Events::Rule'));
      const [, policy] = onlyResource<PolicyProperties>(template, 'AWS::SQS::QueuePolicy', { Queues: [{ Ref: dlq }] });
      const allows = (policy.Properties.PolicyDocument.Statement as Statement[]).filter((s) => s.Effect === 'Allow');
      expect(allows).toHaveLength(ruleIds.length);
      for (const s of allows) {
        expect(s.Principal).toEqual({ Service: 'events.amazonaws.com' });
        expect(s.Action).toBe('sqs:SendMessage');
        expect(referencedId(s.Resource)).toBe(dlq);
        expect(ruleIds).toContain(referencedId(s.Condition?.ArnEquals['aws:SourceArn']));
      }
    });
  });

  test('idempotency table: pk string key, TTL expires_at, on demand, PITR', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      TableName: `alchemiser-idempotency-${stage}`,
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      TimeToLiveSpecification: { AttributeName: 'expires_at', Enabled: true },
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
    });
    template.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: retained ? 'Retain' : 'Delete' });
  });

  test('broker secret is created with a generated placeholder, never a value in the template', () => {
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      Name: `alchemiser/${stage}/broker`,
      GenerateSecretString: Match.objectLike({ GenerateStringKey: 'placeholder' }),
      SecretString: Match.absent(),
    });
  });

  describe('functions', () => {
    test('one function per handler of the routing table, and no other', () => {
      template.resourceCountIs('AWS::Lambda::Function', HANDLERS.length);
    });

    test.each(HANDLERS)('%s: provided.al2023, bootstrap, x86_64, 128 MB, deliberate timeout, own role and log group', (handler) => {
      const [, fn] = functionOf(handler);
      const p = fn.Properties;
      expect(p.Runtime).toBe('provided.al2023');
      expect(p.Handler).toBe('bootstrap');
      expect(p.Architectures).toEqual(['x86_64']);
      expect(p.MemorySize).toBe(128);
      expect(p.Timeout).toBe(TIMEOUTS[handler]);

      const [logsId] = onlyResource(template, 'AWS::Logs::LogGroup', { LogGroupName: `/aws/lambda/alchemiser-${handler}-${stage}` });
      expect(p.LoggingConfig).toEqual({ LogGroup: { Ref: logsId } });
      const logGroup = resourceById(template, logsId);
      expect(logGroup.Properties.RetentionInDays).toEqual(expect.any(Number));
      expect(logGroup.DeletionPolicy).toBe(retained ? 'Retain' : 'Delete');

      const role = resourceById<RoleProperties>(template, referencedId(p.Role));
      expect(role.Type).toBe('AWS::IAM::Role');
      expect(role.Properties.ManagedPolicyArns).toBeUndefined();
      expect(role.Properties.AssumeRolePolicyDocument.Statement).toEqual([
        { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' } },
      ]);
    });

    test('no role uses a managed policy (AWSLambdaBasicExecutionRole or any other)', () => {
      for (const role of Object.values(resourcesOf<RoleProperties>(template, 'AWS::IAM::Role'))) {
        expect(role.Properties.ManagedPolicyArns).toBeUndefined();
      }
    });

    test.each(HANDLERS)('%s: environment variables the Rust code reads', (handler) => {
      const [, fn] = functionOf(handler);
      const env = fn.Properties.Environment.Variables;
      const expected: Record<string, unknown> = {
        STAGE: stage,
        USE_EVENTBRIDGE: 'true',
        EVENTBRIDGE_BUS_NAME: { Ref: busId() },
        EVENTBRIDGE_VERIFY_BUS: 'true',
        FAILURE_QUEUE_URL: { Ref: dlqId() },
        EVENTBRIDGE_OUTBOX_QUEUE_URL: { Ref: outboxId() },
        IDEMPOTENCY_TABLE_NAME: { Ref: tableId() },
        RUST_LOG: 'info',
      };
      if (BROKER_USERS.has(handler)) {
        expected.BROKER = broker;
        expected.BROKER_SECRET_NAME = `alchemiser/${stage}/broker`;
      }
      if (handler === 'execution') expected.ALLOW_REPLAY_EXECUTION = 'false';
      if (handler === 'strategy') expected.STRATEGY_ALLOCATION = JSON.stringify({ SPY: '0.6', TLT: '0.4' });
      if (stage === 'e2e') {
        expected.PAPER_BROKER_STATE = '/tmp/alchemiser-e2e-paper-broker.json';
        // LocalStack's DynamoDB is forwarded to moto; the functions talk to moto directly (localstack-plugins/README.md).
        expected.AWS_ENDPOINT_URL_DYNAMODB = 'http://127.0.0.1:5050';
      }
      expect(env).toEqual(expected);
    });

    test.each(HANDLERS)('%s: async invoke retries twice, then sends the event to the DLQ', (handler) => {
      const [fnId] = functionOf(handler);
      template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
        FunctionName: { Ref: fnId },
        Qualifier: '$LATEST',
        MaximumRetryAttempts: 2,
        MaximumEventAgeInSeconds: 2 * 3600,
        DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [dlqId(), 'Arn'] } } },
      });
    });
  });

  describe('rules, generated from the routing table', () => {
    const routed = deliveredRoutes(ROUTES);

    test('one rule per route with a consumer; archive-only routes get none', () => {
      template.resourceCountIs('AWS::Events::Rule', routed.length);
      for (const route of ROUTES.routes.filter((r) => r.consumer === null)) {
        expect(JSON.stringify(template.findResources('AWS::Events::Rule'))).not.toContain(`"${route.event_type}"`);
      }
    });

    test.each(routed.map((r) => [r.event_type, r] as const))('%s: exact pattern, consumer target, retry policy, DLQ', (_, route) => {
      const [fnId] = functionOf(route.consumer);
      const [, rule] = onlyResource<RuleProperties>(template, 'AWS::Events::Rule', { Name: ruleNameFor(route, stage) });
      const p = rule.Properties;
      expect(p.EventBusName).toEqual({ Ref: busId() });
      expect(p.EventPattern).toEqual({ source: [route.source], 'detail-type': [route.event_type] });
      expect(p.State).toBe(rulesEnabled ? 'ENABLED' : 'DISABLED');
      expect(p.Targets).toHaveLength(1);
      expect(p.Targets[0]).toEqual({
        Id: expect.any(String) as unknown,
        Arn: { 'Fn::GetAtt': [fnId, 'Arn'] },
        RetryPolicy: { MaximumEventAgeInSeconds: 2 * 3600, MaximumRetryAttempts: 50 },
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [dlqId(), 'Arn'] } },
      });
    });

    test('each rule may invoke its consumer, and nothing else may', () => {
      const permissions = Object.values(template.findResources('AWS::Lambda::Permission'));
      expect(permissions).toHaveLength(routed.length);
      for (const route of routed) {
        const [ruleId] = onlyResource(template, 'AWS::Events::Rule', { Name: ruleNameFor(route, stage) });
        const [fnId] = functionOf(route.consumer);
        expect(permissions).toContainEqual(
          expect.objectContaining({
            Properties: {
              Action: 'lambda:InvokeFunction',
              FunctionName: { 'Fn::GetAtt': [fnId, 'Arn'] },
              Principal: 'events.amazonaws.com',
              SourceArn: { 'Fn::GetAtt': [ruleId, 'Arn'] },
            },
          }),
        );
      }
    });
  });

  test(`strategy schedule: 09:35 New York on weekdays, ${scheduleEnabled ? 'enabled' : 'disabled'}, DLQ`, () => {
    const [strategyId] = functionOf('strategy');
    template.resourceCountIs('AWS::Scheduler::Schedule', 1);
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      Name: `alchemiser-strategy-${stage}`,
      ScheduleExpression: 'cron(35 9 ? * MON-FRI *)',
      ScheduleExpressionTimezone: 'America/New_York',
      FlexibleTimeWindow: { Mode: 'OFF' },
      State: scheduleEnabled ? 'ENABLED' : 'DISABLED',
      Target: Match.objectLike({
        Arn: { 'Fn::GetAtt': [strategyId, 'Arn'] },
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [dlqId(), 'Arn'] } },
        RetryPolicy: { MaximumEventAgeInSeconds: 2 * 3600, MaximumRetryAttempts: 50 },
      }),
    });
  });

  describe('IAM: least privilege, every grant on one resource', () => {
    /** Statements of the role of `handler`, as `Sid → {actions, resource}` with resources as logical ids. */
    const grantsOf = (handler: string) => {
      const [, fn] = functionOf(handler);
      const roleId = referencedId(fn.Properties.Role);
      const policies = Object.values(resourcesOf<PolicyProperties>(template, 'AWS::IAM::Policy')).filter((p) =>
        p.Properties.Roles.some((r) => referencedId(r) === roleId),
      );
      expect(policies).toHaveLength(1);
      return (policies[0].Properties.PolicyDocument.Statement as Statement[]).map((s) => {
        const resources = asList<unknown>(s.Resource);
        expect(resources).toHaveLength(1); // one resource ARN per grant
        expect(s.Effect).toBe('Allow');
        return { sid: s.Sid ?? 'logs', actions: [...asList<string>(s.Action)].sort(), resource: referencedId(resources[0]) };
      });
    };

    test.each(HANDLERS)('%s: exactly the statements it needs', (handler) => {
      const [logsId] = onlyResource(template, 'AWS::Logs::LogGroup', { LogGroupName: `/aws/lambda/alchemiser-${handler}-${stage}` });
      const expected = [
        { sid: 'logs', actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resource: logsId },
        { sid: 'RecordFailuresInDeadLetterQueue', actions: ['sqs:SendMessage'], resource: dlqId() },
        {
          sid: 'IdempotencyStore',
          actions: ['dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
          resource: tableId(),
        },
      ];
      if (PUBLISHERS.has(handler)) {
        expected.push(
          { sid: 'PublishToEventBus', actions: ['events:DescribeEventBus', 'events:PutEvents'], resource: busId() },
          { sid: 'ParkUndeliveredEventsInOutbox', actions: ['sqs:SendMessage'], resource: outboxId() },
        );
      } else {
        expected.push({ sid: 'VerifyEventBusExists', actions: ['events:DescribeEventBus'], resource: busId() });
      }
      if (BROKER_USERS.has(handler)) {
        expected.push({
          sid: 'ReadBrokerSecret',
          actions: ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'],
          resource: secretId(),
        });
      }
      const sortBySid = (a: { sid: string }, b: { sid: string }) => a.sid.localeCompare(b.sid);
      expect(grantsOf(handler).sort(sortBySid)).toEqual(expected.sort(sortBySid));
    });

    test('monitor publishes nothing: no events:PutEvents, no outbox', () => {
      expect(PUBLISHERS.has('monitor')).toBe(false);
      const actions = grantsOf('monitor').flatMap((g) => g.actions);
      expect(actions).not.toContain('events:PutEvents');
      expect(grantsOf('monitor').map((g) => g.resource)).not.toContain(outboxId());
    });

    test('only portfolio and execution can read the broker secret', () => {
      const secret = secretId();
      const readers = Object.entries(resourcesOf<PolicyProperties>(template, 'AWS::IAM::Policy'))
        .filter(([, p]) => JSON.stringify(p.Properties.PolicyDocument).includes(`"${secret}"`))
        .flatMap(([, p]) => p.Properties.Roles.map(referencedId));
      const roleOf = (handler: string) => referencedId(functionOf(handler)[1].Properties.Role);
      expect(readers.sort()).toEqual([roleOf('execution'), roleOf('portfolio')].sort());
      expect(template.findResources('AWS::SecretsManager::ResourcePolicy')).toEqual({});
    });

    test('the schedule role may invoke strategy ($LATEST only) and write to the DLQ, nothing else', () => {
      const [, schedule] = onlyResource<{ Target: { RoleArn: unknown } }>(template, 'AWS::Scheduler::Schedule');
      const roleId = referencedId(schedule.Properties.Target.RoleArn);
      const [, policy] = onlyResource<PolicyProperties>(template, 'AWS::IAM::Policy', { Roles: [{ Ref: roleId }] });
      expect(policy.Properties.PolicyDocument.Statement).toEqual([
        { Sid: 'InvokeStrategyFunction', Effect: 'Allow', Action: 'lambda:InvokeFunction', Resource: { 'Fn::GetAtt': [functionOf('strategy')[0], 'Arn'] } },
        { Sid: 'RecordUndeliveredInDeadLetterQueue', Effect: 'Allow', Action: 'sqs:SendMessage', Resource: { 'Fn::GetAtt': [dlqId(), 'Arn'] } },
      ]);
      const trust = resourceById<RoleProperties>(template, roleId).Properties.AssumeRolePolicyDocument.Statement;
      expect(trust).toEqual([
        expect.objectContaining({
          Principal: { Service: 'scheduler.amazonaws.com' },
          Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' }, 'aws:SourceArn': expect.anything() as unknown } },
        }),
      ]);
    });

    test('no Allow statement anywhere has a "*" action or a "*" resource', () => {
      // The only wildcards are in Deny statements: the TLS-only queue/topic policies deny sqs:*/sns:*
      // to every principal over plain HTTP, which is what a wildcard is for.
      const statements = allStatements(template);
      expect(statements.length).toBeGreaterThan(10);
      for (const { from, statement } of statements) {
        if (statement.Effect === 'Deny') continue;
        for (const action of asList<string>(statement.Action)) {
          expect(`${from}: ${action}`).not.toMatch(/\*/);
        }
        for (const resource of asList<unknown>(statement.Resource)) {
          expect(`${from}: ${JSON.stringify(resource)}`).not.toMatch(/\*/);
        }
      }
    });
  });

  describe('alarms and dashboard', () => {
    test('DLQ and outbox depth ≥ 1', () => {
      for (const queue of [dlqId(), outboxId()]) {
        template.hasResourceProperties('AWS::CloudWatch::Alarm', {
          Namespace: 'AWS/SQS',
          MetricName: 'ApproximateNumberOfMessagesVisible',
          Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queue, 'QueueName'] } }],
          Threshold: 1,
          ComparisonOperator: 'GreaterThanOrEqualToThreshold',
          AlarmActions: Match.anyValue(),
        });
      }
    });

    test.each(deliveredRoutes(ROUTES).map((r) => [r.event_type, r] as const))(
      'FailedInvocations of the %s rule, by EventBusName and RuleName',
      (_, route) => {
        template.hasResourceProperties('AWS::CloudWatch::Alarm', {
          Namespace: 'AWS/Events',
          MetricName: 'FailedInvocations',
          Dimensions: Match.arrayWith([
            { Name: 'EventBusName', Value: { Ref: busId() } },
            { Name: 'RuleName', Value: ruleNameFor(route, stage) },
          ]),
          Threshold: 1,
          ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        });
      },
    );

    test.each(HANDLERS)('%s: Errors and Throttles alarms', (handler) => {
      const [fnId] = functionOf(handler);
      for (const metric of ['Errors', 'Throttles']) {
        template.hasResourceProperties('AWS::CloudWatch::Alarm', {
          Namespace: 'AWS/Lambda',
          MetricName: metric,
          Dimensions: [{ Name: 'FunctionName', Value: { Ref: fnId } }],
          Threshold: 1,
          ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        });
      }
    });

    test('every alarm notifies the stage alarm topic', () => {
      const [topicId] = onlyResource(template, 'AWS::SNS::Topic', { TopicName: `alchemiser-alarms-${stage}` });
      const alarms = Object.values(resourcesOf(template, 'AWS::CloudWatch::Alarm'));
      expect(alarms).toHaveLength(2 + deliveredRoutes(ROUTES).length + 2 * HANDLERS.length);
      for (const alarm of alarms) expect(alarm.Properties.AlarmActions).toEqual([{ Ref: topicId }]);
    });

    test('dashboard alchemiser-<stage> shows rules, functions and the custom metrics', () => {
      const [, dashboard] = onlyResource<{ DashboardBody: { 'Fn::Join': [string, unknown[]] } }>(
        template,
        'AWS::CloudWatch::Dashboard',
        { DashboardName: `alchemiser-${stage}` },
      );
      // The body is a Fn::Join of JSON text and references: render references as "Ref:<id>" and parse it.
      const parts = dashboard.Properties.DashboardBody['Fn::Join'][1];
      const body = JSON.parse(parts.map((p) => (typeof p === 'string' ? p : `Ref:${referencedId(p)}`)).join('')) as {
        widgets: { properties: { metrics?: unknown[][] } }[];
      };
      const metrics: string[][] = body.widgets.flatMap((w) => w.properties.metrics ?? []).map((m: unknown[]) =>
        m.filter((x): x is string => typeof x === 'string'),
      );
      const has = (namespace: string, name: string, dimensions: Record<string, string>) =>
        metrics.some((m) => {
          if (m[0] !== namespace || m[1] !== name) return false;
          const dims = Object.fromEntries(Array.from({ length: (m.length - 2) / 2 }, (_, i) => [m[2 + 2 * i], m[3 + 2 * i]]));
          return JSON.stringify(Object.entries(dims).sort()) === JSON.stringify(Object.entries(dimensions).sort());
        });

      for (const route of deliveredRoutes(ROUTES)) {
        for (const name of ['MatchedEvents', 'Invocations', 'FailedInvocations']) {
          expect(has('AWS/Events', name, { EventBusName: `Ref:${busId()}`, RuleName: ruleNameFor(route, stage) })).toBe(true);
        }
      }
      for (const handler of HANDLERS) {
        for (const name of ['Errors', 'Throttles', 'Duration']) {
          expect(has('AWS/Lambda', name, { FunctionName: `Ref:${functionOf(handler)[0]}` })).toBe(true);
        }
        for (const name of ['EventsHandled', 'Failures', 'DuplicatesSkipped', 'HandlerLatencyMs']) {
          expect(has('Alchemiser/EventBridge', name, { stage, function: handler })).toBe(true);
        }
      }
      expect(has('Alchemiser/EventBridge', 'OrdersPlaced', { stage, function: 'execution' })).toBe(true);
    });
  });

  test('outputs and SSM parameters for bus, DLQ, outbox and table', () => {
    const expected: [string, string, unknown][] = [
      ['EventBusName', 'bus-name', { Ref: busId() }],
      ['EventBusArn', 'bus-arn', { 'Fn::GetAtt': [busId(), 'Arn'] }],
      ['DeadLetterQueueUrl', 'dlq-url', { Ref: dlqId() }],
      ['OutboxQueueUrl', 'outbox-url', { Ref: outboxId() }],
      ['IdempotencyTableName', 'idempotency-table', { Ref: tableId() }],
    ];
    for (const [output, parameter, value] of expected) {
      template.hasOutput(output, { Value: value });
      template.hasResourceProperties('AWS::SSM::Parameter', {
        Name: `/alchemiser/${stage}/${parameter}`,
        Type: 'String',
        Value: value,
      });
    }
    template.resourceCountIs('AWS::SSM::Parameter', expected.length);
  });
});

describe('stage-independent behaviour', () => {
  test('stack name is Alchemiser-<stage>', () => {
    expect(buildStack({ stage: 'dev' }).stackName).toBe('Alchemiser-dev');
    expect(buildStack({ stage: 'pr-42' }).stackName).toBe('Alchemiser-pr-42');
  });

  test('-c rulesEnabled=true enables the rules (and the schedule) of a stage that has them off', () => {
    const template = templateFor({ stage: 'dev', rulesEnabled: 'true' });
    for (const rule of Object.values(resourcesOf<RuleProperties>(template, 'AWS::Events::Rule'))) {
      expect(rule.Properties.State).toBe('ENABLED');
    }
    template.hasResourceProperties('AWS::Scheduler::Schedule', { State: 'ENABLED' });
  });

  test('-c rulesEnabled=false disables the rules of a stage that has them on', () => {
    const template = templateFor({ stage: 'prod', rulesEnabled: 'false' });
    for (const rule of Object.values(resourcesOf<RuleProperties>(template, 'AWS::Events::Rule'))) {
      expect(rule.Properties.State).toBe('DISABLED');
    }
  });

  test('-c scheduleEnabled overrides the schedule on its own', () => {
    const template = templateFor({ stage: 'dev', scheduleEnabled: 'true' });
    template.hasResourceProperties('AWS::Scheduler::Schedule', { State: 'ENABLED' });
    for (const rule of Object.values(resourcesOf<RuleProperties>(template, 'AWS::Events::Rule'))) expect(rule.Properties.State).toBe('DISABLED');
  });

  test('an unknown stage gets the defaults: rules and schedule disabled', () => {
    const template = templateFor({ stage: 'feature-x' });
    for (const rule of Object.values(resourcesOf<RuleProperties>(template, 'AWS::Events::Rule'))) {
      expect(rule.Properties.State).toBe('DISABLED');
    }
    template.hasResourceProperties('AWS::Scheduler::Schedule', { State: 'DISABLED' });
    template.hasResourceProperties('AWS::Lambda::Function', { FunctionName: 'alchemiser-strategy-feature-x' });
  });

  test('prod is termination protected; dev is not', () => {
    expect(buildStack({ stage: 'prod' }).terminationProtection).toBe(true);
    expect(buildStack({ stage: 'dev' }).terminationProtection).toBe(false);
  });
});
