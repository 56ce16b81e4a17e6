import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Node } from 'constructs';
import { bootstrapKind } from './bootstrap-architecture';
import { INFRA_DIR, booleanContext, type LambdaArchitecture } from './stage-config';

/** Where `scripts/build` leaves the zips: `<repo>/target/lambda/<function>/bootstrap.zip`. */
export const DEFAULT_ARTIFACTS_DIR = path.resolve(INFRA_DIR, '..', 'target', 'lambda');

/**
 * Placeholder `bootstrap` used when synthesizing without a Rust build (tests, CI, `cdk diff`).
 * It fails loudly if it is ever deployed and invoked, instead of pretending to work.
 */
const PLACEHOLDER_BOOTSTRAP =
  '#!/bin/sh\necho "alchemiser: placeholder artifact deployed; run scripts/build and deploy again" >&2\nexit 1\n';

/** Resolves the asset path of each function's code. */
export interface ArtifactLocator {
  /** Path given to `lambda.Code.fromAsset`: a `bootstrap.zip` file, or a folder holding `bootstrap`. */
  codePath(handler: string): string;
}

/** The stage the artifacts are for: its name (for the build command in errors) and architecture. */
export interface ArtifactTarget {
  readonly stage: string;
  readonly architecture: LambdaArchitecture;
}

/**
 * Chooses the artifacts from context:
 * - `-c placeholderArtifacts=true`: generated placeholders in a temporary folder, so `cdk synth`
 *   works without Rust and without AWS credentials;
 * - `-c artifactsDir=<dir>`: `<dir>/<function>/bootstrap.zip` (relative paths are from infra/);
 * - otherwise `<repo>/target/lambda/<function>/bootstrap.zip`.
 * A missing zip, or one whose bootstrap is not built for the stage's architecture, is an error
 * that says how to produce the right one.
 */
export function artifactsFromContext(node: Node, handlers: readonly string[], target: ArtifactTarget): ArtifactLocator {
  if (booleanContext(node, 'placeholderArtifacts')) {
    return placeholderArtifacts(handlers);
  }
  const dirContext: unknown = node.tryGetContext('artifactsDir');
  const dir = typeof dirContext === 'string' && dirContext !== '' ? path.resolve(INFRA_DIR, dirContext) : DEFAULT_ARTIFACTS_DIR;
  return zipArtifacts(dir, target);
}

/** The zips of `scripts/build` (or any folder laid out the same way), checked against `target`. */
export function zipArtifacts(dir: string, target: ArtifactTarget): ArtifactLocator {
  const build = `scripts/build --stage ${target.stage}`;
  return {
    codePath(handler: string): string {
      const zip = path.join(dir, handler, 'bootstrap.zip');
      if (!fs.existsSync(zip)) {
        throw new Error(
          `Lambda artifact not found: ${zip}. Run ${build} first, point -c artifactsDir=<dir> at ` +
            'a folder with <function>/bootstrap.zip, or synthesize with -c placeholderArtifacts=true.',
        );
      }
      // Lambda would accept the wrong binary and fail every invocation with "exec format error".
      const found = bootstrapKind(zip);
      if (found.kind === 'other') {
        throw new Error(`Lambda artifact ${zip}: its bootstrap is ${found.description}. Build it with ${build}.`);
      }
      if (found.architecture !== target.architecture) {
        throw new Error(
          `Lambda artifact ${zip} is built for ${found.architecture}, but stage ${target.stage} deploys ` +
            `${target.architecture}: rebuild with ${build} (or scripts/build --${target.architecture}).`,
        );
      }
      return zip;
    },
  };
}

/**
 * Writes one placeholder folder per handler (`<tmp>/alchemiser-placeholder-artifacts/<handler>/bootstrap`)
 * and returns a locator for them. The content is fixed, so the asset hash is stable between runs.
 * A folder rather than a zip: CDK zips asset folders itself, so no zip writer is needed here.
 */
export function placeholderArtifacts(
  handlers: readonly string[],
  root: string = path.join(os.tmpdir(), 'alchemiser-placeholder-artifacts'),
): ArtifactLocator {
  for (const handler of handlers) {
    const dir = path.join(root, handler);
    fs.mkdirSync(dir, { recursive: true });
    const bootstrap = path.join(dir, 'bootstrap');
    // Written through a temporary file and renamed, so parallel test workers never see a half-written file.
    const tmp = `${bootstrap}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, PLACEHOLDER_BOOTSTRAP, { mode: 0o755 });
    fs.renameSync(tmp, bootstrap);
  }
  return { codePath: (handler: string) => path.join(root, handler) };
}
