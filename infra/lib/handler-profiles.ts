import { Duration } from 'aws-cdk-lib';

/** Deployment choices that differ between handlers; what they publish comes from the routing table. */
export interface HandlerProfile {
  /** Lambda timeout, chosen per handler (see the comments in {@link HANDLER_PROFILES}). */
  readonly timeout: Duration;
  /** MB. The Rust handlers peak at a few MB of RSS; 128 MB is Lambda's smallest useful size. */
  readonly memorySize: number;
  /** Needs the broker credentials (and gets BROKER / BROKER_SECRET_NAME) when it owns its step (the strategy: its calendar only). */
  readonly usesBroker: boolean;
  /**
   * Why the function refuses `ALCHEMISER_MODE=shadow` at cold start, so that a stage asking for
   * it fails the synth instead of deploying a function that fails every invocation; absent when
   * it can run in shadow.
   */
  readonly shadowRefusal?: string;
}

/**
 * One profile per handler of the routing table. A handler added to the table without a profile
 * fails the synth: its timeout and broker access must be decided, not defaulted.
 */
export const HANDLER_PROFILES: Readonly<Record<string, HandlerProfile>> = {
  // Computes signals from market data: one or two HTTP calls, well under a second when warm.
  // 30 s leaves room for a slow data API and a cold start without letting a hang run for minutes.
  // It reads the broker's calendar (Alpaca /v2/calendar) to decide whether a scheduled tick is
  // today's run (issue 23), so it gets the broker keys: Alpaca has no read-only keys, so its code
  // wraps the broker in one that refuses every order (ReadOnlyBroker, lib/wiring).
  strategy: {
    timeout: Duration.seconds(30),
    memorySize: 128,
    usesBroker: true,
    shadowRefusal:
      "the strategy starts workflows instead of consuming the live owner's events, so there is nothing " +
      'to shadow (functions/strategy refuses ALCHEMISER_MODE=shadow); give it the owner "rust" or "python"',
  },
  // Reads positions and account from the broker and plans the rebalance: a few broker calls.
  portfolio: { timeout: Duration.seconds(30), memorySize: 128, usesBroker: true },
  // Places orders and waits for the broker to acknowledge or fill them, with the broker's own
  // retries on 5xx/429: the slowest handler by far, so 120 s. Still short enough that a hung
  // broker call ends (and is retried or parked) long before the next market day.
  execution: { timeout: Duration.seconds(120), memorySize: 128, usesBroker: true },
  // Keeps the workflow ledger (DynamoDB) and, on its sweep, reads the dead-letter queue and times
  // out stalled workflows: AWS calls only, a handful per workflow.
  monitor: { timeout: Duration.seconds(30), memorySize: 128, usesBroker: false },
};

/** The profile of `handler`, or a clear error naming the file to edit. */
export function profileFor(handler: string): HandlerProfile {
  const profile = HANDLER_PROFILES[handler];
  if (profile === undefined) {
    throw new Error(
      `Handler "${handler}" from the routing table has no deployment profile: add one to ` +
        'infra/lib/handler-profiles.ts (timeout, memory, broker access, shadow support).',
    );
  }
  return profile;
}
