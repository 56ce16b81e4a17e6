import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { resolveStageConfig, validateStageName } from '../lib/stage-config';
import { buildStack, resourcesOf } from './helpers';

/** Writes a stages file into a temporary folder and returns its path. */
function stagesFile(content: unknown): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alchemiser-stages-'));
  const file = path.join(dir, 'stages.json');
  fs.writeFileSync(file, JSON.stringify(content));
  return file;
}

const configOf = (context: Record<string, unknown>, file?: string) =>
  resolveStageConfig(new App({ context }).node, file);

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
    expect(configOf({ stage: 'dev' })).toMatchObject({ rulesEnabled: false, scheduleEnabled: false, broker: 'alpaca' });
    expect(configOf({ stage: 'prod' })).toMatchObject({ rulesEnabled: true, scheduleEnabled: true, broker: 'alpaca', retainData: true });
    expect(configOf({ stage: 'e2e' })).toMatchObject({
      rulesEnabled: true,
      scheduleEnabled: false,
      broker: 'paper',
      allowReplayExecution: false,
    });
  });

  test('unknown stages get the defaults: rules off, alpaca, no replay execution, x86_64', () => {
    expect(configOf({ stage: 'someone-else' })).toMatchObject({
      rulesEnabled: false,
      scheduleEnabled: false,
      broker: 'alpaca',
      allowReplayExecution: false,
      architecture: 'x86_64',
      retainData: false,
    });
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
    ];
    for (const [content, message] of cases) {
      expect(() => configOf({ stage: 'dev' }, stagesFile(content))).toThrow(message);
    }
    expect(() => configOf({ stage: 'dev' }, '/nonexistent/stages.json')).toThrow('Cannot read the stage configuration');
  });

  test('per-stage settings reach the functions: arm64, paper broker, replay, allocation, extra environment', () => {
    const file = stagesFile({
      stages: {
        lab: {
          architecture: 'arm64',
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
      expect(fn.Properties.Architectures).toEqual(['arm64']);
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

  test('an alarm e-mail in the config subscribes it to the alarm topic', () => {
    const file = stagesFile({ stages: { lab: { alarmEmail: 'ops@example.com' } } });
    Template.fromStack(buildStack({ stage: 'lab' }, { stagesFile: file })).hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
    });
  });
});
