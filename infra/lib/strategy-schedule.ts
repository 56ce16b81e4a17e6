import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { TimeZone } from 'aws-cdk-lib';
import type { StrategyRunAt } from './stage-config';

/** The exchange's regular close and early close, and its open, in minutes after midnight New York time. */
const CLOSE = 16 * 60;
const EARLY_CLOSE = 13 * 60;
const OPEN = 9 * 60 + 30;

/** One wall-clock time of day, New York. */
export interface ClockTime {
  readonly hour: number;
  readonly minute: number;
}

/**
 * The New York times at which the strategy's schedule fires on weekdays, derived from
 * `strategyRunAt` (team plan, issue 23):
 * - `close`: `offsetMinutes` before the regular close (16:00) and before an early close (13:00);
 *   the two are three hours apart, so they share the minute;
 * - `open`: `offsetMinutes` after the open (09:30).
 * The strategy asks the broker's calendar whether a firing is today's run (holidays, early
 * closes) and otherwise only logs and notes it in the ledger.
 */
export function strategyRunTimes(runAt: StrategyRunAt): ClockTime[] {
  const at = (minutes: number): ClockTime => ({ hour: Math.floor(minutes / 60), minute: minutes % 60 });
  switch (runAt.anchor) {
    case 'close':
      return [at(EARLY_CLOSE - runAt.offsetMinutes), at(CLOSE - runAt.offsetMinutes)];
    case 'open':
      return [at(OPEN + runAt.offsetMinutes)];
  }
}

/**
 * One EventBridge Scheduler cron for all of {@link strategyRunTimes}: Monday to Friday in
 * America/New_York, so daylight saving time moves the UTC time and not the New York one.
 */
export function strategyScheduleExpression(runAt: StrategyRunAt): scheduler.ScheduleExpression {
  const times = strategyRunTimes(runAt);
  const minutes = new Set(times.map((t) => t.minute));
  if (minutes.size !== 1) throw new Error(`The strategy's run times ${JSON.stringify(times)} do not share a minute: one cron cannot hold them.`);
  return scheduler.ScheduleExpression.cron({
    minute: String(times[0].minute),
    hour: times.map((t) => t.hour).join(','),
    weekDay: 'MON-FRI',
    timeZone: TimeZone.AMERICA_NEW_YORK,
  });
}

/** A sentence for the schedule's description: when it fires `handler` (one with a market_days schedule) and why. */
export function describeStrategyRunAt(runAt: StrategyRunAt, handler = 'strategy'): string {
  const times = strategyRunTimes(runAt)
    .map((t) => `${String(t.hour).padStart(2, '0')}:${String(t.minute).padStart(2, '0')}`)
    .join(' and ');
  const why =
    runAt.anchor === 'close'
      ? `${runAt.offsetMinutes} min before the regular and the early close`
      : `${runAt.offsetMinutes} min after the open`;
  return `Runs the Alchemiser ${handler} at ${times} New York time on weekdays (${why}); the ${handler} checks the broker's calendar`;
}
