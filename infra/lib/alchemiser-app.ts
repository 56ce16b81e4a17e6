import * as path from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { AlchemiserStack } from './alchemiser-stack';
import { artifactsFromContext } from './artifacts';
import { DEFAULT_ROUTES_FILE, loadRoutingTable } from './routing-table';
import { DEFAULT_STAGES_FILE, INFRA_DIR, resolveStageConfig } from './stage-config';

/** Where the app's inputs come from; every path defaults to the checked-in file. */
export interface AlchemiserAppInputs {
  readonly stagesFile?: string;
  readonly routesFile?: string;
}

/**
 * Adds the stack `Alchemiser-<stage>` to `app`, reading the stage and the flags from context
 * (`stage`, `rulesEnabled`, `scheduleEnabled`, `artifactsDir`, `placeholderArtifacts`, `routesFile`).
 * All validation happens here, before synthesis, so a bad stage name or config fails with its reason.
 */
export function addAlchemiserStack(app: App, inputs: AlchemiserAppInputs = {}): AlchemiserStack {
  const routesContext: unknown = app.node.tryGetContext('routesFile');
  const routesFile =
    typeof routesContext === 'string' && routesContext !== ''
      ? path.resolve(INFRA_DIR, routesContext)
      : (inputs.routesFile ?? DEFAULT_ROUTES_FILE);
  const routing = loadRoutingTable(routesFile);
  const config = resolveStageConfig(app.node, routing, inputs.stagesFile ?? DEFAULT_STAGES_FILE);
  const artifacts = artifactsFromContext(app.node, routing.handlers, config);

  return new AlchemiserStack(app, `Alchemiser-${config.stage}`, {
    config,
    routing,
    artifacts,
    // Bound to the CLI's account/region when it has credentials; environment-agnostic otherwise,
    // which is what lets `cdk synth` run without any AWS credentials.
    env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  });
}

/**
 * Runs cdk-nag's AWS Solutions and Serverless checks on every synth: a finding that is not
 * acknowledged (with its reason, next to the construct it concerns) fails the synth.
 */
export function addNagChecks(app: App): void {
  // cdk-nag 3.0.x's EventBusOpenAccess rule reads the deprecated CfnEventBusPolicy.principal, which
  // prints a deprecation warning on every synth; it concerns cdk-nag's code, not ours.
  process.env.JSII_DEPRECATED ??= 'quiet';
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }), new ServerlessChecks(app, { verbose: true }));
}
