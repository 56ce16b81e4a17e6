#!/usr/bin/env node
/**
 * Prints a stage's configuration resolved exactly as the CDK app resolves it (config/stages.json,
 * its defaults, the checked-in routing table), so scripts cannot disagree with the synth:
 *
 *     npx tsx bin/stage-config.ts <stage>        the whole configuration, as JSON
 *     npx tsx bin/stage-config.ts <stage> <key>  one key: strings as they are, anything else as JSON
 *
 * scripts/build --stage reads `architecture`; tests/e2e/deploy_assertions.py reads the owners,
 * the notification settings, `riskLimits` and `strategyRunAt`. A bad stage, config or key exits 1 with the reason.
 */
import { App } from 'aws-cdk-lib';
import { loadRoutingTable } from '../lib/routing-table';
import { resolveStageConfig, type StageConfig } from '../lib/stage-config';

const [stage, key, ...extra] = process.argv.slice(2);
try {
  if (stage === undefined || extra.length > 0) throw new Error('usage: stage-config.ts <stage> [key]');
  const config = resolveStageConfig(new App({ context: { stage } }).node, loadRoutingTable());
  if (key !== undefined && !(key in config)) {
    throw new Error(`stage configuration has no key "${key}" (keys: ${Object.keys(config).join(', ')})`);
  }
  const value: unknown = key === undefined ? config : config[key as keyof StageConfig];
  process.stdout.write(`${typeof value === 'string' ? value : JSON.stringify(value)}\n`);
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exitCode = 1;
}
