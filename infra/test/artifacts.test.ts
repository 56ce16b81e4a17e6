import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { DEFAULT_ARTIFACTS_DIR, artifactsFromContext, placeholderArtifacts } from '../lib/artifacts';
import { ELF_MACHINES, bootstrapKind, elfKind } from '../lib/bootstrap-architecture';
import { INFRA_DIR } from '../lib/stage-config';
import { ROUTES, buildStack, elfHeader, fakeArtifactsDir, writeZip } from './helpers';

const locatorFor = (context: Record<string, unknown>) =>
  artifactsFromContext(new App({ context }).node, ROUTES.handlers, { stage: 'lab', architecture: 'arm64' });

const tmp = (prefix: string) => fs.mkdtempSync(path.join(os.tmpdir(), prefix));

/** A zip at a fresh path holding `data` as `name` (default `bootstrap`). */
function zipOf(data: Buffer, name = 'bootstrap', method: 'stored' | 'deflated' = 'deflated'): string {
  const file = path.join(tmp('alchemiser-zip-'), 'bootstrap.zip');
  writeZip(file, name, data, method);
  return file;
}

describe('Lambda artifacts', () => {
  test('default: <repo>/target/lambda/<function>/bootstrap.zip, as scripts/build writes them', () => {
    expect(DEFAULT_ARTIFACTS_DIR).toBe(path.resolve(INFRA_DIR, '..', 'target', 'lambda'));
  });

  test('-c artifactsDir=<dir> points at another folder laid out the same way', () => {
    const dir = fakeArtifactsDir('arm64');
    expect(locatorFor({ artifactsDir: dir }).codePath('execution')).toBe(path.join(dir, 'execution', 'bootstrap.zip'));
  });

  test('a missing zip is an error that says how to build it for the stage or synth without it', () => {
    const empty = tmp('alchemiser-empty-');
    expect(() => locatorFor({ artifactsDir: empty }).codePath('strategy')).toThrow(
      /Lambda artifact not found: .*strategy\/bootstrap\.zip\. Run scripts\/build --stage lab first.*-c placeholderArtifacts=true/,
    );
    expect(() => buildStack({ stage: 'dev', artifactsDir: empty })).toThrow(/Lambda artifact not found/);
  });

  test("synth refuses a zip built for the other architecture, naming the stage's build command", () => {
    // prod deploys arm64 (the default); e2e deploys x86_64 (LocalStack runs it on this host).
    expect(() => buildStack({ stage: 'prod', artifactsDir: fakeArtifactsDir('x86_64') })).toThrow(
      /bootstrap\.zip is built for x86_64, but stage prod deploys arm64: rebuild with scripts\/build --stage prod \(or scripts\/build --arm64\)/,
    );
    expect(() => buildStack({ stage: 'e2e', artifactsDir: fakeArtifactsDir('arm64') })).toThrow(
      /built for arm64, but stage e2e deploys x86_64: rebuild with scripts\/build --stage e2e/,
    );
    expect(buildStack({ stage: 'prod', artifactsDir: fakeArtifactsDir('arm64') }).functions.size).toBe(ROUTES.handlers.length);
  });

  test('synth refuses a zip whose bootstrap is not an executable at all', () => {
    const dir = tmp('alchemiser-script-artifacts-');
    for (const handler of ROUTES.handlers) {
      fs.mkdirSync(path.join(dir, handler));
      writeZip(path.join(dir, handler, 'bootstrap.zip'), 'bootstrap', Buffer.from('#!/bin/sh\necho hi\n'));
    }
    expect(() => buildStack({ stage: 'dev', artifactsDir: dir })).toThrow(
      /strategy\/bootstrap\.zip: its bootstrap is a script, not an ELF executable\. Build it with scripts\/build --stage dev\./,
    );
  });

  test('-c placeholderArtifacts=true generates an executable placeholder bootstrap per function', () => {
    const root = tmp('alchemiser-placeholders-');
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

describe("a zip's bootstrap architecture, from its ELF header", () => {
  test.each(['x86_64', 'arm64'] as const)('%s, deflated or stored', (architecture) => {
    for (const method of ['deflated', 'stored'] as const) {
      expect(bootstrapKind(zipOf(elfHeader(ELF_MACHINES[architecture]), 'bootstrap', method))).toEqual({ kind: 'elf', architecture });
    }
  });

  test('reads only the start of a large entry (a real bootstrap is megabytes)', () => {
    const binary = Buffer.concat([elfHeader(ELF_MACHINES.arm64), Buffer.alloc(3 * 1024 * 1024, 0x5a)]);
    expect(bootstrapKind(zipOf(binary))).toEqual({ kind: 'elf', architecture: 'arm64' });
  });

  test('a big-endian header is read big-endian', () => {
    const header = Buffer.alloc(64);
    header.write('\x7fELF', 0, 'latin1');
    header[5] = 2;
    header.writeUInt16BE(ELF_MACHINES.arm64, 18);
    expect(elfKind(header)).toEqual({ kind: 'elf', architecture: 'arm64' });
  });

  test('other CPUs and non-ELF files are described, not guessed', () => {
    expect(elfKind(elfHeader(0x28))).toEqual({ kind: 'other', description: 'an ELF executable for machine 0x28, neither x86_64 nor arm64' });
    expect(elfKind(Buffer.from('#!/bin/sh\n'))).toEqual({ kind: 'other', description: 'a script, not an ELF executable' });
    expect(elfKind(Buffer.from('MZ\x90\x00'.padEnd(64, '\0'), 'latin1'))).toEqual({ kind: 'other', description: 'not an ELF executable' });
  });

  test('a file that is not a zip, or a zip without bootstrap, is an error saying so', () => {
    const notZip = path.join(tmp('alchemiser-notzip-'), 'bootstrap.zip');
    fs.writeFileSync(notZip, 'stand-in zip');
    expect(() => bootstrapKind(notZip)).toThrow(`Lambda artifact ${notZip}: not a zip file (no end of central directory)`);
    const other = zipOf(elfHeader(ELF_MACHINES.x86_64), 'main');
    expect(() => bootstrapKind(other)).toThrow(/no bootstrap entry in the zip/);
  });
});
