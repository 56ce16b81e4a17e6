import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { addAlchemiserStack, addNagChecks } from '../lib/alchemiser-app';
import { CDK_JSON_CONTEXT } from './helpers';

/**
 * What `npx cdk synth -c stage=<stage> -c placeholderArtifacts=true` does, in process, with every
 * AWS credential and account variable removed: the app must not need AWS to synthesize.
 */
describe('synth without AWS credentials or a Rust build', () => {
  const saved = { ...process.env };
  beforeAll(() => {
    for (const key of Object.keys(process.env)) {
      if (key.startsWith('AWS_') || key.startsWith('CDK_DEFAULT_')) delete process.env[key];
    }
    process.env.AWS_EC2_METADATA_DISABLED = 'true';
    process.env.AWS_CONFIG_FILE = '/nonexistent';
    process.env.AWS_SHARED_CREDENTIALS_FILE = '/nonexistent';
  });
  afterAll(() => {
    process.env = saved;
  });

  test.each(['dev', 'prod'])('stage %s synthesizes an environment-agnostic template', (stage) => {
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), `alchemiser-synth-${stage}-`));
    const app = new App({ outdir, context: { ...CDK_JSON_CONTEXT, stage, placeholderArtifacts: 'true' } });
    const stack = addAlchemiserStack(app);
    addNagChecks(app);
    const assembly = app.synth();
    const artifact = assembly.getStackByName(`Alchemiser-${stage}`);
    expect(artifact.environment.account).toBe('unknown-account');
    const template = artifact.template as { Resources: Record<string, unknown> };
    expect(Object.keys(template.Resources).length).toBeGreaterThan(50);
    expect(stack.stackName).toBe(`Alchemiser-${stage}`);
  });
});
