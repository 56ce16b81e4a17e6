import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { riskLimitEnvironment } from '../lib/alchemiser-stack';
import { strategyRunTimes } from '../lib/strategy-schedule';
import { ROUTES, buildStack, onlyResource } from './helpers';

/** A stack of stage `lab` with these settings (over the checked-in defaults). */
function labTemplate(settings: Record<string, unknown>): Template {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'alchemiser-schedule-')), 'stages.json');
  const checkedIn = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'config', 'stages.json'), 'utf8')) as { defaults: unknown };
  fs.writeFileSync(file, JSON.stringify({ defaults: checkedIn.defaults, stages: { lab: { rulesEnabled: true, ...settings } } }));
  return Template.fromStack(buildStack({ stage: 'lab' }, { stagesFile: file }));
}

const envOf = (template: Template, handler: string) =>
  onlyResource<{ Environment: { Variables: Record<string, unknown> } }>(template, 'AWS::Lambda::Function', {
    FunctionName: `alchemiser-${handler}-lab`,
  })[1].Properties.Environment.Variables;

const strategySchedule = (template: Template) =>
  onlyResource<{ ScheduleExpression: string; ScheduleExpressionTimezone: string; State: string; Description: string }>(
    template,
    'AWS::Scheduler::Schedule',
    { Name: 'alchemiser-strategy-lab' },
  )[1].Properties;

describe('strategy schedule from strategyRunAt', () => {
  test.each([
    [{ anchor: 'close', offsetMinutes: 15 }, ['12:45', '15:45']],
    [{ anchor: 'close', offsetMinutes: 1 }, ['12:59', '15:59']],
    [{ anchor: 'close', offsetMinutes: 75 }, ['11:45', '14:45']],
    [{ anchor: 'close', offsetMinutes: 210 }, ['09:30', '12:30']],
    [{ anchor: 'open', offsetMinutes: 0 }, ['09:30']],
    [{ anchor: 'open', offsetMinutes: 5 }, ['09:35']],
    [{ anchor: 'open', offsetMinutes: 45 }, ['10:15']],
  ] as const)('%j runs at %j New York time', (runAt, times) => {
    const hhmm = strategyRunTimes(runAt).map((t) => `${String(t.hour).padStart(2, '0')}:${String(t.minute).padStart(2, '0')}`);
    expect(hhmm).toEqual(times);
  });

  test('default (15 minutes before the close): one cron at 12:45 and 15:45, weekdays, in New York time', () => {
    const template = labTemplate({});
    const schedule = strategySchedule(template);
    expect(schedule.ScheduleExpression).toBe('cron(45 12,15 ? * MON-FRI *)');
    // The wall clock of the exchange: daylight saving time moves the UTC time, not the New York one
    // (15:45 New York is 20:45 UTC in January and 19:45 UTC in July; a UTC cron would be an hour off half the year).
    expect(schedule.ScheduleExpressionTimezone).toBe('America/New_York');
    expect(schedule.State).toBe('ENABLED');
    expect(schedule.Description).toContain('12:45 and 15:45 New York time');
    expect(envOf(template, 'strategy').STRATEGY_RUN_AT).toBe('{"anchor":"close","offsetMinutes":15}');
  });

  test('a custom offset before the close: 30 minutes → 12:30 and 15:30', () => {
    const template = labTemplate({ strategyRunAt: { anchor: 'close', offsetMinutes: 30 } });
    expect(strategySchedule(template).ScheduleExpression).toBe('cron(30 12,15 ? * MON-FRI *)');
    expect(strategySchedule(template).ScheduleExpressionTimezone).toBe('America/New_York');
    expect(envOf(template, 'strategy').STRATEGY_RUN_AT).toBe('{"anchor":"close","offsetMinutes":30}');
  });

  test('after the open: 45 minutes → 10:15 only', () => {
    const template = labTemplate({ strategyRunAt: { anchor: 'open', offsetMinutes: 45 } });
    expect(strategySchedule(template).ScheduleExpression).toBe('cron(15 10 ? * MON-FRI *)');
    expect(envOf(template, 'strategy').STRATEGY_RUN_AT).toBe('{"anchor":"open","offsetMinutes":45}');
    expect(envOf(template, 'execution').STRATEGY_RUN_AT).toBeUndefined();
  });
});

describe('risk limits reach execution only, only those set', () => {
  test('every limit: its variable, decimals as the strings they were, the allow-list comma-joined', () => {
    expect(
      riskLimitEnvironment({
        maxOrderNotional: '25000.50',
        maxPlanTurnover: '0.75',
        maxDailyBuyNotional: '100000',
        maxDailyOrders: 40,
        maxFailedSellNotional: '0',
        buyAllowList: ['SPY', 'TLT', 'BRK.B'],
      }),
    ).toEqual({
      MAX_ORDER_NOTIONAL: '25000.50',
      MAX_PLAN_TURNOVER: '0.75',
      MAX_DAILY_BUY_NOTIONAL: '100000',
      MAX_DAILY_ORDERS: '40',
      MAX_FAILED_SELL_NOTIONAL: '0',
      BUY_ALLOW_LIST: 'SPY,TLT,BRK.B',
    });
    expect(riskLimitEnvironment({})).toEqual({});
  });

  test('a stage with two limits: execution gets those two, no other function any', () => {
    const template = labTemplate({ riskLimits: { maxDailyOrders: 3, buyAllowList: ['SPY', 'TLT'] } });
    const env = envOf(template, 'execution');
    expect(env.MAX_DAILY_ORDERS).toBe('3');
    expect(env.BUY_ALLOW_LIST).toBe('SPY,TLT');
    for (const name of ['MAX_ORDER_NOTIONAL', 'MAX_PLAN_TURNOVER', 'MAX_DAILY_BUY_NOTIONAL', 'MAX_FAILED_SELL_NOTIONAL']) {
      expect(env[name]).toBeUndefined();
    }
    for (const handler of ROUTES.handlers.filter((h) => h !== 'execution')) {
      expect(Object.keys(envOf(template, handler)).filter((k) => k.startsWith('MAX_') || k === 'BUY_ALLOW_LIST')).toEqual([]);
    }
  });

  test('extraEnvironment may not set a limit behind the stage config', () => {
    expect(() => labTemplate({ extraEnvironment: { MAX_ORDER_NOTIONAL: '1000000' } })).toThrow(
      'extraEnvironment of stage lab sets MAX_ORDER_NOTIONAL, which the stack manages itself',
    );
  });
});
