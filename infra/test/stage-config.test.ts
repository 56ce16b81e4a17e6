import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { resolveStageConfig, validateStageName } from '../lib/stage-config';
import { ROUTES, buildStack, onlyResource, resourcesOf } from './helpers';

/** Writes a stages file into a temporary folder and returns its path. */
function stagesFile(content: unknown): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alchemiser-stages-'));
  const file = path.join(dir, 'stages.json');
  fs.writeFileSync(file, JSON.stringify(content));
  return file;
}

const configOf = (context: Record<string, unknown>, file?: string) =>
  resolveStageConfig(new App({ context }).node, ROUTES, file);

describe('stage name', () => {
  test.each(['dev', 'prod', 'e2e', 'pr-42', 'a', '9', 'x'.repeat(20)])('accepts %p', (stage) => {
    expect(validateStageName(stage)).toBe(stage);
  });

  test.each(['Dev', 'PROD', 'dev_1', 'dev.1', 'dev 1', '-dev', 'dev-', 'dév', 'dev/prod', 'x'.repeat(21), '../x'])(
    'rejects %p with a message that says what is allowed',
    (stage) => {
      expect(() => validateStageName(stage)).toThrow(/Invalid stage name .* lowercase letters, digits and hyphens/);
    },
  );

  test('a missing stage is an error that says how to pass one (no silent default)', () => {
    expect(() => configOf({})).toThrow('No stage given: pass one with -c stage=<name>');
    expect(() => configOf({ stage: '' })).toThrow('No stage given');
  });

  test('the app throws before synthesis on an invalid stage', () => {
    expect(() => buildStack({ stage: 'Prod_1' })).toThrow(/Invalid stage name "Prod_1"/);
    expect(() => buildStack({})).toThrow(/No stage given/);
  });
});

describe('stage configuration', () => {
  test('checked-in stages: dev rules off, prod rules on with alpaca, e2e rules on with paper and no replay execution', () => {
    expect(configOf({ stage: 'dev' })).toMatchObject({ rulesEnabled: false, scheduleEnabled: false, broker: 'alpaca', architecture: 'arm64' });
    expect(configOf({ stage: 'prod' })).toMatchObject({
      rulesEnabled: true,
      scheduleEnabled: true,
      broker: 'alpaca',
      retainData: true,
      architecture: 'arm64',
    });
    // LocalStack runs the e2e bootstraps as processes on this (x86_64) host.
    expect(configOf({ stage: 'e2e' })).toMatchObject({
      rulesEnabled: true,
      scheduleEnabled: false,
      broker: 'paper',
      allowReplayExecution: false,
      architecture: 'x86_64',
    });
  });

  test('unknown stages get the defaults: rules off, alpaca, no replay execution, arm64, every handler ours', () => {
    expect(configOf({ stage: 'someone-else' })).toEqual({
      stage: 'someone-else',
      rulesEnabled: false,
      scheduleEnabled: false,
      broker: 'alpaca',
      allowReplayExecution: false,
      architecture: 'arm64',
      owners: { strategy: 'rust', portfolio: 'rust', execution: 'rust' },
      workflowDeadlineMinutes: 30,
      ledgerRetentionDays: 90,
      notificationEmail: undefined,
      notifyOnCompleted: false,
      logRetentionDays: 30,
      retainData: false,
      strategyAllocation: { SPY: '0.6', TLT: '0.4' },
      extraEnvironment: {},
      alarmEmail: undefined,
      riskLimits: {},
      strategyRunAt: { anchor: 'close', offsetMinutes: 15 },
      signingKeyGeneration: 1,
    });
  });

  test('owners merge per handler: a stage that sets one keeps the defaults of the others', () => {
    const file = stagesFile({ defaults: { owners: { strategy: 'python' } }, stages: { lab: { owners: { execution: 'shadow' } } } });
    expect(configOf({ stage: 'lab' }, file).owners).toEqual({ strategy: 'python', portfolio: 'rust', execution: 'shadow' });
    expect(configOf({ stage: 'other' }, file).owners).toEqual({ strategy: 'python', portfolio: 'rust', execution: 'rust' });
  });

  test('context flags override the file; "true"/"false" strings as the CLI passes them', () => {
    expect(configOf({ stage: 'dev', rulesEnabled: 'true' })).toMatchObject({ rulesEnabled: true, scheduleEnabled: true });
    expect(configOf({ stage: 'prod', rulesEnabled: 'false' })).toMatchObject({ rulesEnabled: false, scheduleEnabled: false });
    expect(configOf({ stage: 'prod', scheduleEnabled: false })).toMatchObject({ rulesEnabled: true, scheduleEnabled: false });
    expect(() => configOf({ stage: 'dev', rulesEnabled: 'yes' })).toThrow('Context rulesEnabled must be true or false');
  });

  test('invalid settings fail with the file, the key and the rule', () => {
    const cases: [unknown, RegExp][] = [
      [{ stages: { dev: { broker: 'ibkr' } } }, /stages\.dev\.broker: must be "alpaca" or "paper"/],
      [{ defaults: { rulesEnabled: 'yes' } }, /defaults\.rulesEnabled: must be true or false/],
      [{ stages: { dev: { architecture: 'sparc' } } }, /architecture: must be "x86_64" or "arm64"/],
      [{ stages: { dev: { logRetentionDays: 4 } } }, /logRetentionDays: must be a CloudWatch Logs retention period/],
      [{ stages: { dev: { strategyAllocation: { SPY: 0.6 } } } }, /weight of SPY must be a decimal string/],
      [{ stages: { dev: { strategyAllocation: { SPY: '1.5' } } } }, /weight of SPY must be a decimal string between 0 and 1/],
      [{ stages: { dev: { extraEnvironment: { 'BAD-NAME': 'x' } } } }, /"BAD-NAME" is not a valid variable name/],
      [{ stages: { dev: { rulesEnabeld: true } } }, /stages\.dev\.rulesEnabeld: unknown setting/],
      [{ stages: { dev: { owners: { monitor: 'rust' } } } }, /stages\.dev\.owners\.monitor: not an ownable handler .*\(ownable: strategy, portfolio, execution\)/],
      [{ stages: { dev: { owners: { execution: 'java' } } } }, /stages\.dev\.owners\.execution: must be "rust", "python", "shadow"; got "java"/],
      [{ defaults: { owners: ['rust'] } }, /defaults\.owners: must be an object of handler/],
      [{ stages: { dev: { owners: { strategy: 'shadow' } } } }, /stages\.dev\.owners\.strategy: "shadow" is not possible: the strategy starts workflows/],
      [{ stages: { dev: { workflowDeadlineMinutes: 0 } } }, /stages\.dev\.workflowDeadlineMinutes: must be a whole number from 1 to 1440/],
      [{ stages: { dev: { workflowDeadlineMinutes: 7.5 } } }, /workflowDeadlineMinutes: must be a whole number/],
      [{ stages: { dev: { ledgerRetentionDays: '90' } } }, /stages\.dev\.ledgerRetentionDays: must be a whole number from 1 to 3650/],
      [{ stages: { dev: { notificationEmail: 'ops' } } }, /stages\.dev\.notificationEmail: must be an e-mail address/],
      [{ stages: { dev: { notifyOnCompleted: 'yes' } } }, /stages\.dev\.notifyOnCompleted: must be true or false/],
      [{ stages: { dev: { riskLimits: ['25000'] } } }, /stages\.dev\.riskLimits: must be an object with any of maxOrderNotional/],
      [{ stages: { dev: { riskLimits: { maxOrderNotional: 25000 } } } }, /stages\.dev\.riskLimits\.maxOrderNotional: must be a decimal string such as "25000" .*got 25000/],
      [{ stages: { dev: { riskLimits: { maxOrderNotional: '2.5e4' } } } }, /stages\.dev\.riskLimits\.maxOrderNotional: must be a decimal string/],
      [{ stages: { dev: { riskLimits: { maxOrderNotional: '-1' } } } }, /stages\.dev\.riskLimits\.maxOrderNotional: must be a decimal string/],
      [{ stages: { dev: { riskLimits: { maxPlanTurnover: '0' } } } }, /stages\.dev\.riskLimits\.maxPlanTurnover: must be greater than 0/],
      [{ stages: { dev: { riskLimits: { maxDailyBuyNotional: '0.00' } } } }, /riskLimits\.maxDailyBuyNotional: must be greater than 0/],
      [{ stages: { dev: { riskLimits: { maxFailedSellNotional: 500 } } } }, /stages\.dev\.riskLimits\.maxFailedSellNotional: must be a decimal string such as "500"/],
      [{ stages: { dev: { riskLimits: { maxDailyOrders: '40' } } } }, /stages\.dev\.riskLimits\.maxDailyOrders: must be a whole number from 1 to 10000/],
      [{ stages: { dev: { riskLimits: { maxDailyOrders: 0 } } } }, /riskLimits\.maxDailyOrders: must be a whole number from 1 to 10000/],
      [{ stages: { dev: { riskLimits: { buyAllowList: [] } } } }, /stages\.dev\.riskLimits\.buyAllowList: must be a non-empty list .*leave it out to allow any symbol/],
      [{ stages: { dev: { riskLimits: { buyAllowList: 'SPY,TLT' } } } }, /riskLimits\.buyAllowList: must be a non-empty list of ticker symbols/],
      [{ stages: { dev: { riskLimits: { buyAllowList: ['SPY', 'spy'] } } } }, /riskLimits\.buyAllowList: "spy" is not a ticker symbol/],
      [{ stages: { dev: { riskLimits: { buyAllowList: ['SPY', 'TLT', 'SPY'] } } } }, /riskLimits\.buyAllowList: lists a symbol twice/],
      [{ stages: { dev: { riskLimits: { maxOrderNotinal: '1' } } } }, /stages\.dev\.riskLimits\.maxOrderNotinal: unknown limit/],
      [{ stages: { dev: { strategyRunAt: 'close' } } }, /stages\.dev\.strategyRunAt: must be an object/],
      [{ stages: { dev: { strategyRunAt: { anchor: 'noon' } } } }, /stages\.dev\.strategyRunAt\.anchor: must be "close" or "open"; got "noon"/],
      [{ stages: { dev: { strategyRunAt: { anchor: 'close', offsetMinutes: 0 } } } }, /strategyRunAt\.offsetMinutes: must be a whole number from 1 to 210 \(minutes before the close\)/],
      [{ stages: { dev: { strategyRunAt: { offsetMinutes: 211 } } } }, /stages\.dev\.strategyRunAt\.offsetMinutes: must be a whole number from 1 to 210/],
      [{ stages: { dev: { strategyRunAt: { anchor: 'open', offsetMinutes: 210 } } } }, /strategyRunAt\.offsetMinutes: must be a whole number from 0 to 209 \(minutes after the open\)/],
      [{ stages: { dev: { strategyRunAt: { anchor: 'open', offsetMinutes: 2.5 } } } }, /strategyRunAt\.offsetMinutes: must be a whole number/],
      [{ stages: { dev: { strategyRunAt: { anchor: 'open', offset: 5 } } } }, /stages\.dev\.strategyRunAt\.offset: unknown key/],
    ];
    for (const [content, message] of cases) {
      expect(() => configOf({ stage: 'dev' }, stagesFile(content))).toThrow(message);
    }
    expect(() => configOf({ stage: 'dev' }, '/nonexistent/stages.json')).toThrow('Cannot read the stage configuration');
  });

  test('signingKeyGeneration: 1 unless set; a stage that sets it keeps it, the others the default', () => {
    for (const stage of ['dev', 'prod', 'e2e', 'e2e-mix']) expect(configOf({ stage }).signingKeyGeneration).toBe(1);
    const file = stagesFile({ stages: { lab: { signingKeyGeneration: 3 } } });
    expect(configOf({ stage: 'lab' }, file).signingKeyGeneration).toBe(3);
    expect(configOf({ stage: 'other' }, file).signingKeyGeneration).toBe(1);
  });

  test.each([0, -1, 1.5, '2', null, true])('signingKeyGeneration %p is refused, naming the stage and the value', (bad) => {
    const file = stagesFile({ stages: { lab: { signingKeyGeneration: bad } } });
    expect(() => configOf({ stage: 'lab' }, file)).toThrow(
      `${file}: stages.lab.signingKeyGeneration: must be a whole number of at least 1 (the generation of the stage's signing keys; ` +
        `raise it by one to rotate them); got ${JSON.stringify(bad)}`,
    );
  });

  test('prod: conservative explicit risk limits; other stages none (Rust defaults)', () => {
    expect(configOf({ stage: 'prod' }).riskLimits).toEqual({
      maxOrderNotional: '25000',
      maxPlanTurnover: '1.0',
      maxDailyBuyNotional: '100000',
      maxDailyOrders: 40,
      maxFailedSellNotional: '500',
    });
    for (const stage of ['dev', 'e2e', 'e2e-mix']) expect(configOf({ stage }).riskLimits).toEqual({});
  });

  test('risk limits merge per limit; strategyRunAt is replaced whole, each key defaulted', () => {
    const file = stagesFile({
      defaults: { riskLimits: { maxDailyOrders: 10 }, strategyRunAt: { anchor: 'open', offsetMinutes: 5 } },
      stages: { lab: { riskLimits: { maxOrderNotional: '100' }, strategyRunAt: { offsetMinutes: 30 } } },
    });
    expect(configOf({ stage: 'lab' }, file)).toMatchObject({
      riskLimits: { maxDailyOrders: 10, maxOrderNotional: '100' },
      strategyRunAt: { anchor: 'close', offsetMinutes: 30 },
    });
    expect(configOf({ stage: 'other' }, file).strategyRunAt).toEqual({ anchor: 'open', offsetMinutes: 5 });
  });

  test('a buy allow-list that leaves out a symbol the allocation targets fails with both keys', () => {
    const file = stagesFile({ stages: { lab: { strategyAllocation: { SPY: '0.6', TLT: '0.4', QQQ: '0' }, riskLimits: { buyAllowList: ['SPY'] } } } });
    expect(() => configOf({ stage: 'lab' }, file)).toThrow(
      /stages\.lab\.riskLimits\.buyAllowList: leaves out TLT, which strategyAllocation targets/,
    );
    const ok = stagesFile({ stages: { lab: { strategyAllocation: { SPY: '1', QQQ: '0' }, riskLimits: { buyAllowList: ['SPY'] } } } });
    expect(configOf({ stage: 'lab' }, ok).riskLimits).toEqual({ buyAllowList: ['SPY'] });
  });

  test('per-stage settings reach the functions: x86_64, paper broker, replay, allocation, extra environment', () => {
    const file = stagesFile({
      stages: {
        lab: {
          architecture: 'x86_64',
          broker: 'paper',
          allowReplayExecution: true,
          strategyAllocation: { QQQ: '1' },
          extraEnvironment: { PAPER_BROKER_STATE: '/tmp/lab.json' },
        },
      },
    });
    const template = Template.fromStack(buildStack({ stage: 'lab' }, { stagesFile: file }));
    const functions = resourcesOf<{ Architectures: string[]; Environment: { Variables: Record<string, string> } }>(
      template,
      'AWS::Lambda::Function',
    );
    for (const fn of Object.values(functions)) {
      expect(fn.Properties.Architectures).toEqual(['x86_64']);
      expect(fn.Properties.Environment.Variables.PAPER_BROKER_STATE).toBe('/tmp/lab.json');
    }
    template.hasResourceProperties('AWS::Lambda::Function', {
      FunctionName: 'alchemiser-execution-lab',
      Environment: { Variables: { BROKER: 'paper', ALLOW_REPLAY_EXECUTION: 'true' } },
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      FunctionName: 'alchemiser-strategy-lab',
      Environment: { Variables: { STRATEGY_ALLOCATION: '{"QQQ":"1"}' } },
    });
  });

  test('extraEnvironment may not override a variable the stack manages', () => {
    const file = stagesFile({ stages: { lab: { extraEnvironment: { EVENTBRIDGE_BUS_NAME: 'other' } } } });
    expect(() => buildStack({ stage: 'lab' }, { stagesFile: file })).toThrow(
      'extraEnvironment of stage lab sets EVENTBRIDGE_BUS_NAME, which the stack manages itself',
    );
  });

  test('an alarm e-mail in the config subscribes it to the alarm topic, and only to it', () => {
    const file = stagesFile({ stages: { lab: { alarmEmail: 'ops@example.com' } } });
    const template = Template.fromStack(buildStack({ stage: 'lab' }, { stagesFile: file }));
    const [alarmTopic] = onlyResource(template, 'AWS::SNS::Topic', { TopicName: 'alchemiser-alarms-lab' });
    const subscriptions = Object.values(resourcesOf(template, 'AWS::SNS::Subscription'));
    expect(subscriptions.map((s) => s.Properties)).toEqual([{ Protocol: 'email', Endpoint: 'ops@example.com', TopicArn: { Ref: alarmTopic } }]);
  });
});
