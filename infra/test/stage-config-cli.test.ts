import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { INFRA_DIR, resolveStageConfig } from '../lib/stage-config';
import { ROUTES } from './helpers';

/** Runs bin/stage-config.ts as scripts/build and deploy_assertions.py do. */
function stageConfig(...args: string[]) {
  const tsx = path.join(INFRA_DIR, 'node_modules', '.bin', 'tsx');
  const run = spawnSync(tsx, ['bin/stage-config.ts', ...args], { cwd: INFRA_DIR, encoding: 'utf8' });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

describe('bin/stage-config.ts: the scripts read the configuration the synth uses', () => {
  test('one key: the architecture scripts/build builds for', () => {
    expect(stageConfig('prod', 'architecture')).toEqual({ status: 0, stdout: 'arm64\n', stderr: '' });
    expect(stageConfig('e2e', 'architecture').stdout).toBe('x86_64\n');
  });

  test('the whole configuration, as the app resolves it', () => {
    const run = stageConfig('e2e');
    expect(run.status).toBe(0);
    const expected = resolveStageConfig(new App({ context: { stage: 'e2e' } }).node, ROUTES);
    expect(JSON.parse(run.stdout)).toEqual(JSON.parse(JSON.stringify(expected)));
  });

  test('a bad stage or key exits 1 with the reason', () => {
    expect(stageConfig('Prod')).toMatchObject({ status: 1, stdout: '', stderr: expect.stringContaining('Invalid stage name "Prod"') as unknown });
    expect(stageConfig('prod', 'colour')).toMatchObject({ status: 1, stderr: expect.stringContaining('no key "colour"') as unknown });
    expect(stageConfig()).toMatchObject({ status: 1, stderr: 'usage: stage-config.ts <stage> [key]\n' });
  });
});
