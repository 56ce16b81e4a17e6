import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { INFRA_DIR, booleanContext } from './stage-config';
import type { Node } from 'constructs';

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

/**
 * Chooses the artifacts from context:
 * - `-c placeholderArtifacts=true`: generated placeholders in a temporary folder, so `cdk synth`
 *   works without Rust and without AWS credentials;
 * - `-c artifactsDir=<dir>`: `<dir>/<function>/bootstrap.zip` (relative paths are from infra/);
 * - otherwise `<repo>/target/lambda/<function>/bootstrap.zip`.
 * A missing zip is an error that says how to produce it.
 */
export function artifactsFromContext(node: Node, handlers: readonly string[]): ArtifactLocator {
  if (booleanContext(node, 'placeholderArtifacts')) {
    return placeholderArtifacts(handlers);
  }
  const dirContext: unknown = node.tryGetContext('artifactsDir');
  const dir = typeof dirContext === 'string' && dirContext !== '' ? path.resolve(INFRA_DIR, dirContext) : DEFAULT_ARTIFACTS_DIR;
  return zipArtifacts(dir);
}

/** The zips of `scripts/build` (or any folder laid out the same way). */
export function zipArtifacts(dir: string): ArtifactLocator {
  return {
    codePath(handler: string): string {
      const zip = path.join(dir, handler, 'bootstrap.zip');
      if (!fs.existsSync(zip)) {
        throw new Error(
          `Lambda artifact not found: ${zip}. Run scripts/build first, point -c artifactsDir=<dir> at ` +
            'a folder with <function>/bootstrap.zip, or synthesize with -c placeholderArtifacts=true.',
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
