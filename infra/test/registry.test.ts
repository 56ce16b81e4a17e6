import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { NEEDS, type Need, type RoutingTable } from '../lib/routing-table';
import { DEFAULT_STAGES_FILE, resolveStageConfig, type RiskLimits, type StageConfig } from '../lib/stage-config';
import {
  ROUTES,
  asList,
  buildStack,
  labStagesFile,
  onlyResource,
  referencedId,
  resourcesOf,
  routesWithHandler,
  templateFor,
  writeTempJson,
  type PolicyProperties,
  type Statement,
} from './helpers';

/**
 * The handler registry (lib/events/src/registry.rs, exported in routes.json) drives the stack:
 * each function's environment and grants are what every function gets plus what its spec's needs
 * bring, its schedule is its spec's, and a handler added to the file alone becomes a function
 * with its rule, grants, environment and schedule. The expectations are written from the file
 * and from the lists below, not from the stack's code.
 */

/** What every function gets, whatever its spec (what lib/wiring reads in every function). */
const COMMON_VARIABLES = [
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
  'VERIFY_KEY_IDS',
  'UNSIGNED_SOURCES',
];
/** What a handler that publishes gets besides: the key it signs with. */
const PUBLISHER_VARIABLES = ['SIGNING_KEY_ID'];
/** What a shadow gets from its owner, whatever its needs: the ledger it records what it would have done in. */
const SHADOW_VARIABLES = ['LEDGER_TABLE_NAME', 'LEDGER_RETENTION_DAYS'];
/** The variables of `risk_limits` the stack sets only when the stage sets the limit (Rust has a default). */
const LIMIT_OF_VARIABLE: Readonly<Record<string, keyof RiskLimits>> = {
  MAX_ORDER_NOTIONAL: 'maxOrderNotional',
  MAX_PLAN_TURNOVER: 'maxPlanTurnover',
  MAX_DAILY_BUY_NOTIONAL: 'maxDailyBuyNotional',
  MAX_DAILY_ORDERS: 'maxDailyOrders',
  MAX_FAILED_SELL_NOTIONAL: 'maxFailedSellNotional',
  BUY_ALLOW_LIST: 'buyAllowList',
};

/** The statements (by Sid) each need brings to a function's role; a need added to NEEDS fails to compile here. */
const NEED_GRANTS: Readonly<Record<Need, readonly string[]>> = {
  broker: ['ReadBrokerSecret'],
  trading_halt: ['ReadTradingHalt'],
  order_follow_ups: ['SendOrderFollowUps', 'ConsumeOrderFollowUps'],
  risk_limits: [],
  strategy_allocation: [],
  workflow_deadline: [],
  workflow_ledger: ['KeepWorkflowLedger', 'ListWorkflowsByStart', 'SweepOpenWorkflows'],
  dead_letters: ['PeekDeadLetterQueue'],
};

interface FunctionProperties {
  readonly Timeout: number;
  readonly MemorySize: number;
  readonly Role: unknown;
  readonly Environment: { readonly Variables: Record<string, unknown> };
}

const functionOf = (template: Template, stage: string, handler: string) =>
  onlyResource<FunctionProperties>(template, 'AWS::Lambda::Function', { FunctionName: `alchemiser-${handler}-${stage}` });

/** The Sids of the statements of the role of `handler` (the log group's and X-Ray's have none). */
function sidsOf(template: Template, stage: string, handler: string): string[] {
  const roleId = referencedId(functionOf(template, stage, handler)[1].Properties.Role);
  return Object.values(resourcesOf<PolicyProperties>(template, 'AWS::IAM::Policy'))
    .filter((p) => p.Properties.Roles.some((r) => referencedId(r) === roleId))
    .flatMap((p) => asList<Statement>(p.Properties.PolicyDocument.Statement))
    .flatMap((s) => (s.Sid === undefined ? [] : [s.Sid]));
}

/** Who publishes what a handler consumes, from the specs: the signers it verifies. */
const signersOf = (table: RoutingTable, handler: string) => {
  const consumes = table.specs.find((s) => s.handler === handler)?.consumes ?? [];
  return table.specs.filter((s) => s.produces.some((t) => consumes.includes(t))).map((s) => s.handler);
};

/** One function whose environment is not what its spec says: what is missing, what should not be there. */
interface Mismatch {
  readonly handler: string;
  readonly missing: string[];
  readonly unexpected: string[];
}

/**
 * Each function's environment against its spec: the common variables, the publisher's key, its
 * spec's `variables` (a limit only when the stage sets it), a shadow's ledger, the stage's extra
 * variables; nothing else. Empty when every function is as its spec says.
 */
function environmentMismatches(template: Template, table: RoutingTable, config: StageConfig): Mismatch[] {
  return table.specs.flatMap((spec): Mismatch[] => {
    const actual = Object.keys(functionOf(template, config.stage, spec.handler)[1].Properties.Environment.Variables);
    const limitSet = (variable: string) => !(variable in LIMIT_OF_VARIABLE) || config.riskLimits[LIMIT_OF_VARIABLE[variable]] !== undefined;
    const expected = new Set([
      ...COMMON_VARIABLES,
      ...(spec.produces.length > 0 ? PUBLISHER_VARIABLES : []),
      ...spec.variables.filter(limitSet),
      ...(config.owners[spec.handler] === 'shadow' ? SHADOW_VARIABLES : []),
      ...Object.keys(config.extraEnvironment),
    ]);
    const missing = [...expected].filter((v) => !actual.includes(v)).sort();
    const unexpected = actual.filter((v) => !expected.has(v)).sort();
    return missing.length + unexpected.length === 0 ? [] : [{ handler: spec.handler, missing, unexpected }];
  });
}

/** Each function's role against its spec: the Sids of what every function, a publisher, its needs and a shadow get. */
function grantMismatches(template: Template, table: RoutingTable, config: StageConfig): Mismatch[] {
  return table.specs.flatMap((spec): Mismatch[] => {
    const shadow = config.owners[spec.handler] === 'shadow';
    const publishes = spec.produces.length > 0;
    const actual = sidsOf(template, config.stage, spec.handler);
    const expected = [
      'RecordFailuresInDeadLetterQueue',
      'VerifyEventBusExists',
      'IdempotencyStoreOwnKeys',
      ...signersOf(table, spec.handler).map((s) => `VerifySignaturesOf${s.charAt(0).toUpperCase()}${s.slice(1)}`),
      ...(publishes ? ['SignOwnEvents'] : []),
      ...(publishes && !shadow ? ['PublishOwnEventsToEventBus', 'ParkUndeliveredEventsInOutbox'] : []),
      ...spec.needs.flatMap((need) => NEED_GRANTS[need]),
      ...(shadow ? ['RecordShadowOutcomesInLedger'] : []),
    ];
    const missing = expected.filter((s) => !actual.includes(s)).sort();
    const unexpected = actual.filter((s) => !expected.includes(s)).sort();
    return missing.length + unexpected.length === 0 ? [] : [{ handler: spec.handler, missing, unexpected }];
  });
}

const configOf = (stage: string, table: RoutingTable = ROUTES, stagesFile = DEFAULT_STAGES_FILE) =>
  resolveStageConfig(new App({ context: { stage } }).node, table, stagesFile);

/** Stage `lab` with every limit set and two shadows: every variable of every spec is set. */
const LAB_SETTINGS = {
  owners: { portfolio: 'shadow', execution: 'shadow' },
  riskLimits: {
    maxOrderNotional: '1000',
    maxPlanTurnover: '0.5',
    maxDailyBuyNotional: '5000',
    maxDailyOrders: 10,
    maxFailedSellNotional: '0',
    buyAllowList: ['SPY', 'TLT'],
  },
  extraEnvironment: { PAPER_BROKER_STATE: '/tmp/lab.json' },
};

describe('the registry drives each function', () => {
  test.each(['dev', 'prod', 'e2e', 'e2e-mix'])('stage %s: each environment is the common variables plus its spec’s, nothing else', (stage) => {
    expect(environmentMismatches(templateFor({ stage }), ROUTES, configOf(stage))).toEqual([]);
  });

  test.each(['dev', 'prod', 'e2e', 'e2e-mix'])('stage %s: each role holds what every function gets plus what its needs bring', (stage) => {
    expect(grantMismatches(templateFor({ stage }), ROUTES, configOf(stage))).toEqual([]);
  });

  test('a stage setting every limit, with shadows: exactly every variable of each spec, plus the shadows’ ledger', () => {
    const stagesFile = labStagesFile(LAB_SETTINGS);
    const template = Template.fromStack(buildStack({ stage: 'lab' }, { stagesFile }));
    const config = configOf('lab', ROUTES, stagesFile);
    expect(environmentMismatches(template, ROUTES, config)).toEqual([]);
    expect(grantMismatches(template, ROUTES, config)).toEqual([]);
    // Every variable of every spec is there (none left to a default).
    for (const spec of ROUTES.specs) {
      const env = functionOf(template, 'lab', spec.handler)[1].Properties.Environment.Variables;
      for (const variable of spec.variables) expect([spec.handler, variable, env[variable] !== undefined]).toEqual([spec.handler, variable, true]);
    }
  });

  test('the check names the handler and the variable: one the registry lists that the stack does not set, one the stack sets that it does not list', () => {
    const template = templateFor({ stage: 'dev' });
    const table = JSON.parse(JSON.stringify(ROUTES)) as { specs: { handler: string; variables: string[] }[] };
    // As if the registry gave portfolio a need whose variable the stack forgot...
    table.specs.find((s) => s.handler === 'portfolio')!.variables.push('PORTFOLIO_REPORT_BUCKET');
    // ... and execution no longer needed the switch the stack still gave it.
    const execution = table.specs.find((s) => s.handler === 'execution')!;
    execution.variables = execution.variables.filter((v) => v !== 'TRADING_HALT_PARAMETER');
    expect(environmentMismatches(template, table as unknown as RoutingTable, configOf('dev'))).toEqual([
      { handler: 'portfolio', missing: ['PORTFOLIO_REPORT_BUCKET'], unexpected: [] },
      { handler: 'execution', missing: [], unexpected: ['TRADING_HALT_PARAMETER'] },
    ]);
  });

  test('a variable the stack sets for a need but the registry does not list fails the synth, naming both', () => {
    const table = JSON.parse(JSON.stringify(ROUTES)) as { specs: { handler: string; variables: string[] }[] };
    const portfolio = table.specs.find((s) => s.handler === 'portfolio')!;
    portfolio.variables = portfolio.variables.filter((v) => v !== 'BROKER_SECRET_NAME');
    expect(() => buildStack({ stage: 'dev' }, { routesFile: writeTempJson('routes.json', table) })).toThrow(
      'The stack sets BROKER_SECRET_NAME for need broker of handler "portfolio", but the registry does not list it',
    );
  });

  test('each need the stack knows is a need of some handler of the checked-in registry', () => {
    // A need no handler has would be untested by the stages above.
    expect([...new Set(ROUTES.specs.flatMap((s) => s.needs))].sort()).toEqual([...NEEDS].sort());
  });

  test('timeouts and memory are the specs’', () => {
    const template = templateFor({ stage: 'prod' });
    for (const spec of ROUTES.specs) {
      const p = functionOf(template, 'prod', spec.handler)[1].Properties;
      expect([spec.handler, p.Timeout, p.MemorySize]).toEqual([spec.handler, spec.timeout_seconds, spec.memory_mb]);
    }
  });

  test('the default workflow deadline is the registry’s', () => {
    const table = JSON.parse(JSON.stringify(ROUTES)) as { default_workflow_deadline_seconds: number };
    table.default_workflow_deadline_seconds = 45 * 60;
    const template = Template.fromStack(buildStack({ stage: 'dev' }, { routesFile: writeTempJson('routes.json', table) }));
    for (const spec of ROUTES.specs.filter((s) => s.needs.includes('workflow_deadline'))) {
      expect(functionOf(template, 'dev', spec.handler)[1].Properties.Environment.Variables.WORKFLOW_DEADLINE_SECONDS).toBe('2700');
    }
    expect(configOf('dev').workflowDeadlineMinutes).toBe(ROUTES.default_workflow_deadline_seconds / 60);
  });

  test('two handlers needing order follow-ups fail the synth: the stack has one queue, with one consumer', () => {
    const table = routesWithHandler({ handler: 'hedger', needs: ['order_follow_ups'], variables: ['FOLLOW_UP_QUEUE_URL'], consumes: ['TradeExecuted'] });
    expect(() => buildStack({ stage: 'dev', placeholderArtifacts: true }, { routesFile: writeTempJson('routes.json', table) })).toThrow(
      'Handlers execution and hedger all need order_follow_ups, but the stack has one follow-up queue (alchemiser-order-follow-up-dev)',
    );
  });
});

describe('a fifth handler, added to routes.json only: no infra code knows of it', () => {
  /** A consumer of WorkflowCompleted that needs nothing: what docs/adding-an-event-type.md adds. */
  const REPORTER = { handler: 'reporter', consumes: ['WorkflowCompleted'] };
  /** A scheduled handler with needs: every 15 minutes, with the broker and the ledger. */
  const AUDITOR = {
    handler: 'auditor',
    timeout_seconds: 60,
    memory_mb: 256,
    needs: ['broker', 'workflow_ledger'],
    variables: ['BROKER', 'BROKER_SECRET_NAME', 'LEDGER_TABLE_NAME', 'LEDGER_RETENTION_DAYS'],
    schedule: { kind: 'every', minutes: 15 },
  };

  let table: RoutingTable;
  let template: Template;
  let config: StageConfig;
  beforeAll(() => {
    table = routesWithHandler(REPORTER, AUDITOR);
    const stagesFile = labStagesFile({});
    // Placeholder artifacts: the test's stand-in zips are for the checked-in handlers only.
    template = Template.fromStack(
      buildStack({ stage: 'lab', placeholderArtifacts: true }, { routesFile: writeTempJson('routes.json', table), stagesFile }),
    );
    config = configOf('lab', table, stagesFile);
  });

  test('one function more each, as its spec says', () => {
    template.resourceCountIs('AWS::Lambda::Function', ROUTES.handlers.length + 2);
    expect(functionOf(template, 'lab', 'reporter')[1].Properties).toMatchObject({ Timeout: 30, MemorySize: 128 });
    expect(functionOf(template, 'lab', 'auditor')[1].Properties).toMatchObject({ Timeout: 60, MemorySize: 256 });
  });

  test('every function’s environment and grants as its spec says, the new ones’ and the others’', () => {
    expect(environmentMismatches(template, table, config)).toEqual([]);
    expect(grantMismatches(template, table, config)).toEqual([]);
    // The reporter publishes nothing: no key of its own; it verifies execution's signatures only.
    expect(sidsOf(template, 'lab', 'reporter').filter((s) => s.startsWith('VerifySignaturesOf'))).toEqual(['VerifySignaturesOfExecution']);
    expect(resourcesOf(template, 'AWS::KMS::Alias', { AliasName: 'alias/alchemiser-lab-reporter-signing' })).toEqual({});
  });

  test('the reporter’s rule: WorkflowCompleted from its producers to the reporter, which the rule may invoke', () => {
    const [fnId] = functionOf(template, 'lab', 'reporter');
    const [ruleId, rule] = onlyResource<{ EventPattern: unknown; Targets: { Arn: unknown }[]; State: string }>(template, 'AWS::Events::Rule', {
      Name: 'alchemiser-reporter-events-lab',
    });
    // No Python owner on this stage: the Rust producer only.
    expect(rule.Properties.EventPattern).toEqual({ source: ['alchemiser.execution'], 'detail-type': ['WorkflowCompleted'] });
    expect(rule.Properties.Targets.map((t) => t.Arn)).toEqual([{ 'Fn::GetAtt': [fnId, 'Arn'] }]);
    expect(rule.Properties.State).toBe('ENABLED');
    template.hasResourceProperties('AWS::Lambda::Permission', {
      FunctionName: { 'Fn::GetAtt': [fnId, 'Arn'] },
      SourceArn: { 'Fn::GetAtt': [ruleId, 'Arn'] },
    });
  });

  test('the auditor’s schedule: every 15 minutes, where the rules deliver, superseded by the next firing', () => {
    const [fnId] = functionOf(template, 'lab', 'auditor');
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      Name: 'alchemiser-auditor-lab',
      ScheduleExpression: 'rate(15 minutes)',
      State: 'ENABLED',
      Description: 'Invokes the Alchemiser auditor every 15 minutes (lab)',
      Target: { Arn: { 'Fn::GetAtt': [fnId, 'Arn'] }, RetryPolicy: { MaximumEventAgeInSeconds: 900, MaximumRetryAttempts: 50 } },
    });
    template.resourceCountIs('AWS::Scheduler::Schedule', ROUTES.specs.filter((s) => s.schedule !== null).length + 1);
  });

  test('the auditor reads the broker secret: its role is among the readers the secret’s policy allows', () => {
    const roleOf = (handler: string) => referencedId(functionOf(template, 'lab', handler)[1].Properties.Role);
    const [, policy] = onlyResource<{ ResourcePolicy: { Statement: Statement[] } }>(template, 'AWS::SecretsManager::ResourcePolicy');
    const readers = policy.Properties.ResourcePolicy.Statement[0].Condition?.ArnNotEquals['aws:PrincipalArn'];
    const users = table.specs.filter((s) => s.needs.includes('broker')).map((s) => ({ 'Fn::GetAtt': [roleOf(s.handler), 'Arn'] }));
    expect(readers).toEqual(users);
    expect(users).toContainEqual({ 'Fn::GetAtt': [roleOf('auditor'), 'Arn'] });
  });

  test('alarms on the new functions’ errors and throttles', () => {
    for (const handler of ['reporter', 'auditor']) {
      for (const kind of ['errors', 'throttles']) template.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: `alchemiser-lab-${handler}-${kind}` });
    }
  });
});
