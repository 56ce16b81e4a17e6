import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { IConstruct } from 'constructs';
import { addAlchemiserStack, addNagChecks } from '../lib/alchemiser-app';
import { CDK_JSON_CONTEXT, ROUTES, artifactsDirFor, routesWithHandler, writeTempJson } from './helpers';

/** Every `Validations.of(x).acknowledge(...)` under `root`: rule id, construct path and reason. */
function acknowledgements(root: IConstruct): { id: string; path: string; reason: unknown }[] {
  return root.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((entry) => entry.type === 'aws:cdk:acknowledged-rules')
      .flatMap((entry) =>
        Object.entries(entry.data as Record<string, unknown>).map(([id, reason]) => ({ id, path: construct.node.path, reason })),
      ),
  );
}

/** Synthesizes with cdk-nag into a temporary folder; returns the validation report (or throws with it). */
function synthWithNag(app: App): { pluginReports: unknown[] } {
  addNagChecks(app);
  const assembly = app.synth();
  const report = path.join(assembly.directory, 'validation-report.json');
  return fs.existsSync(report)
    ? (JSON.parse(fs.readFileSync(report, 'utf8')) as { pluginReports: unknown[] })
    : { pluginReports: [] };
}

const appFor = (stage: string) =>
  new App({
    outdir: fs.mkdtempSync(path.join(os.tmpdir(), `alchemiser-nag-${stage}-`)),
    context: { ...CDK_JSON_CONTEXT, artifactsDir: artifactsDirFor({ stage }), stage },
  });

describe('cdk-nag AwsSolutions and Serverless checks', () => {
  test.each(['AwsSolutions-SQS4', 'Serverless-SQSRedrivePolicy'])('the checks run: %s fails the synth of an unacknowledged queue', (rule) => {
    // Guards the guard: if a pack were not wired in, the tests below would pass vacuously.
    const app = appFor('dev');
    new sqs.Queue(new Stack(app, 'Probe'), 'QueueWithoutTlsOrDlq');
    expect(() => synthWithNag(app)).toThrow(new RegExp(rule));
  });

  test.each(['dev', 'prod'])('stage %s: zero unacknowledged findings', (stage) => {
    const app = appFor(stage);
    addAlchemiserStack(app);
    // app.synth() throws with the full report on any unacknowledged error; warnings are reported too.
    expect(synthWithNag(app).pluginReports).toEqual([]);
  });

  test.each([2, 3])('a stage at signing key generation %p (two keys per signer): zero unacknowledged findings', (generation) => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'alchemiser-nag-rotated-')), 'stages.json');
    fs.writeFileSync(file, JSON.stringify({ stages: { lab: { retainData: true, signingKeyGeneration: generation } } }));
    const app = new App({
      outdir: fs.mkdtempSync(path.join(os.tmpdir(), 'alchemiser-nag-lab-')),
      context: { ...CDK_JSON_CONTEXT, artifactsDir: artifactsDirFor({ stage: 'lab' }, file), stage: 'lab' },
    });
    addAlchemiserStack(app, { stagesFile: file });
    expect(synthWithNag(app).pluginReports).toEqual([]);
  });

  test('a fifth handler, added to routes.json only: zero unacknowledged findings, no acknowledgement written for it', () => {
    const routesFile = writeTempJson(
      'routes.json',
      routesWithHandler({
        handler: 'reporter',
        consumes: ['WorkflowCompleted'],
        needs: ['workflow_ledger'],
        variables: ['LEDGER_TABLE_NAME', 'LEDGER_RETENTION_DAYS'],
        schedule: { kind: 'every', minutes: 60 },
      }),
    );
    const app = new App({
      outdir: fs.mkdtempSync(path.join(os.tmpdir(), 'alchemiser-nag-fifth-')),
      context: { ...CDK_JSON_CONTEXT, placeholderArtifacts: true, stage: 'prod' },
    });
    const stack = addAlchemiserStack(app, { routesFile });
    expect(stack.functions.has('reporter')).toBe(true);
    expect(synthWithNag(app).pluginReports).toEqual([]);
  });

  test('every acknowledgement has a written reason, and there are only the expected ones', () => {
    const app = appFor('prod');
    const stack = addAlchemiserStack(app);
    const acks = acknowledgements(stack);
    for (const ack of acks) {
      expect(typeof ack.reason).toBe('string');
      expect((ack.reason as string).length).toBeGreaterThan(40);
    }
    // CDK stores an acknowledgement without a plugin name as `Annotation::<id>`.
    const ids = acks.map((a) => `${a.id.replace(/^\w+::/, '')} @ ${a.path.replace(/^Alchemiser-prod\//, '')}`);
    const perFunction = ROUTES.handlers.flatMap((handler) => [
      `AwsSolutions-IAM5[Resource::*] @ Handler-${handler}/Role/DefaultPolicy`,
      `Serverless-LambdaDLQ @ Handler-${handler}/Function`,
    ]);
    expect(ids.sort()).toEqual(
      [
        'AwsSolutions-SMG4 @ BrokerSecret/Secret',
        'Serverless-LambdaEventSourceMappingDestination @ OrderFollowUps/ToConsumer',
        'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:events:<AWS::Region>:<AWS::AccountId>:replay/alchemiser-prod-*] @ Operator/Role/DefaultPolicy',
        'AwsSolutions-SQS3 @ DeadLetterQueue/Queue',
        'AwsSolutions-SQS3 @ Outbox/Queue',
        'Serverless-SQSRedrivePolicy @ DeadLetterQueue/Queue',
        'Serverless-SQSRedrivePolicy @ Outbox/Queue',
        ...perFunction,
      ].sort(),
    );
  });
});
