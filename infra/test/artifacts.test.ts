import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { DEFAULT_ARTIFACTS_DIR, artifactsFromContext, placeholderArtifacts } from '../lib/artifacts';
import { INFRA_DIR } from '../lib/stage-config';
import { ROUTES, buildStack, fakeArtifactsDir } from './helpers';

const locatorFor = (context: Record<string, unknown>) => artifactsFromContext(new App({ context }).node, ROUTES.handlers);

describe('Lambda artifacts', () => {
  test('default: <repo>/target/lambda/<function>/bootstrap.zip, as scripts/build writes them', () => {
    expect(DEFAULT_ARTIFACTS_DIR).toBe(path.resolve(INFRA_DIR, '..', 'target', 'lambda'));
  });

  test('-c artifactsDir=<dir> points at another folder laid out the same way', () => {
    const dir = fakeArtifactsDir();
    expect(locatorFor({ artifactsDir: dir }).codePath('execution')).toBe(path.join(dir, 'execution', 'bootstrap.zip'));
  });

  test('a missing zip is an error that says how to build it or synth without it', () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'alchemiser-empty-'));
    expect(() => locatorFor({ artifactsDir: empty }).codePath('strategy')).toThrow(
      /Lambda artifact not found: .*strategy\/bootstrap\.zip\. Run scripts\/build first.*-c placeholderArtifacts=true/,
    );
    expect(() => buildStack({ stage: 'dev', artifactsDir: empty })).toThrow(/Lambda artifact not found/);
  });

  test('-c placeholderArtifacts=true generates an executable placeholder bootstrap per function', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'alchemiser-placeholders-'));
    const locator = placeholderArtifacts(ROUTES.handlers, root);
    for (const handler of ROUTES.handlers) {
      const bootstrap = path.join(locator.codePath(handler), 'bootstrap');
      expect(fs.statSync(bootstrap).mode & 0o111).not.toBe(0);
      expect(fs.readFileSync(bootstrap, 'utf8')).toContain('placeholder artifact');
    }
    expect(locatorFor({ placeholderArtifacts: 'true' }).codePath('monitor')).toMatch(/alchemiser-placeholder-artifacts\/monitor$/);
  });

  test('the stack synthesizes from placeholders, with no Rust build and no artifactsDir', () => {
    const stack = buildStack({ stage: 'dev', artifactsDir: undefined, placeholderArtifacts: 'true' });
    expect(stack.functions.size).toBe(ROUTES.handlers.length);
  });
});
