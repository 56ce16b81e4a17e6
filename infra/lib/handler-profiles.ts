import { Duration } from 'aws-cdk-lib';
import type { HandlerSpec } from './routing-table';

/**
 * How Lambda runs one handler's function, in CDK's terms. Every value comes from the handler's
 * spec in the registry (lib/events/src/registry.rs, exported in routes.json), which is also where
 * each choice is explained; nothing here is per handler. What it needs from the stack (the broker
 * among others) is the spec's `needs`, which alchemiser-stack.ts turns into environment and grants;
 * whether it can run as a shadow is its `shadow_refusal`, which stage-config.ts checks.
 */
export interface HandlerProfile {
  readonly timeout: Duration;
  /** MB (the registry says why). */
  readonly memorySize: number;
}

/** The profile a handler's spec describes. */
export function profileOf(spec: HandlerSpec): HandlerProfile {
  return {
    timeout: Duration.seconds(spec.timeout_seconds),
    memorySize: spec.memory_mb,
  };
}
