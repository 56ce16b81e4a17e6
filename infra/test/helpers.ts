import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { AlchemiserStack } from '../lib/alchemiser-stack';
import { addAlchemiserStack, type AlchemiserAppInputs } from '../lib/alchemiser-app';
import { ELF_MACHINES } from '../lib/bootstrap-architecture';
import { DEFAULT_ROUTES_FILE, loadRoutingTable, type RoutingTable } from '../lib/routing-table';
import { DEFAULT_STAGES_FILE, INFRA_DIR, resolveStageConfig, type LambdaArchitecture } from '../lib/stage-config';

/** The routing table the app reads, parsed independently of the app's loader for expectations. */
export const ROUTES: RoutingTable = JSON.parse(fs.readFileSync(DEFAULT_ROUTES_FILE, 'utf8')) as RoutingTable;
loadRoutingTable(DEFAULT_ROUTES_FILE); // the checked-in file must pass the app's own checks

/** The Rust handlers that publish anything (each signs what it publishes), in handler order. */
export const SIGNERS: string[] = ROUTES.specs.filter((s) => s.produces.length > 0).map((s) => s.handler);

/** Their EventBridge sources, `alchemiser.<handler>`, sorted. */
export const RUST_SOURCES: string[] = SIGNERS.map((handler) => `alchemiser.${handler}`).sort();

/** Feature flags from cdk.json, so tests synthesize what `cdk synth` does. */
export const CDK_JSON_CONTEXT: Record<string, unknown> = (
  JSON.parse(fs.readFileSync(path.join(INFRA_DIR, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> }
).context;

/**
 * The first 64 bytes of a 64-bit little-endian ELF executable for `machine` (an `e_machine`
 * value): all the architecture check reads. The rest of a real binary does not matter to it.
 */
export function elfHeader(machine: number): Buffer {
  const header = Buffer.alloc(64);
  header.write('\x7fELF', 0, 'latin1');
  header[4] = 2; // ELFCLASS64
  header[5] = 1; // little endian
  header[6] = 1; // EV_CURRENT
  header.writeUInt16LE(3, 16); // ET_DYN, as a PIE bootstrap is
  header.writeUInt16LE(machine, 18);
  return header;
}

/**
 * Writes a one-entry zip by hand (no zip tool in the tests): local header, data, central
 * directory, end record. `deflated` compresses the entry as cargo-lambda's zips do.
 */
export function writeZip(file: string, name: string, data: Buffer, method: 'stored' | 'deflated' = 'deflated'): void {
  const body = method === 'deflated' ? zlib.deflateRawSync(data) : data;
  const code = method === 'deflated' ? 8 : 0;
  const fileName = Buffer.from(name, 'utf8');
  const crc = zlib.crc32(data);
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(20, 4);
  local.writeUInt16LE(code, 8);
  local.writeUInt32LE(crc, 14);
  local.writeUInt32LE(body.length, 18);
  local.writeUInt32LE(data.length, 22);
  local.writeUInt16LE(fileName.length, 26);
  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE(20, 4);
  central.writeUInt16LE(20, 6);
  central.writeUInt16LE(code, 10);
  central.writeUInt32LE(crc, 16);
  central.writeUInt32LE(body.length, 20);
  central.writeUInt32LE(data.length, 24);
  central.writeUInt16LE(fileName.length, 28);
  central.writeUInt32LE(0o100755 * 0x10000, 38); // unix mode in the high half: an executable file
  const centralOffset = local.length + fileName.length + body.length;
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(1, 8);
  end.writeUInt16LE(1, 10);
  end.writeUInt32LE(central.length + fileName.length, 12);
  end.writeUInt32LE(centralOffset, 16);
  fs.writeFileSync(file, Buffer.concat([local, fileName, body, central, fileName, end]));
}

const artifactsDirs = new Map<LambdaArchitecture, string>();

/**
 * A folder laid out like `target/lambda`, with a `bootstrap.zip` per handler whose bootstrap is an
 * ELF header for `architecture`, so the tests exercise the real zip-asset path and its
 * architecture check without a Rust build.
 */
export function fakeArtifactsDir(architecture: LambdaArchitecture): string {
  let dir = artifactsDirs.get(architecture);
  if (dir === undefined) {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), `alchemiser-infra-test-${architecture}-`));
    for (const handler of ROUTES.handlers) {
      fs.mkdirSync(path.join(dir, handler));
      writeZip(path.join(dir, handler, 'bootstrap.zip'), 'bootstrap', elfHeader(ELF_MACHINES[architecture]));
    }
    artifactsDirs.set(architecture, dir);
  }
  return dir;
}

/**
 * A fresh app with the cdk.json flags and the given context; the artifacts default to stand-in
 * zips built for the stage's architecture (resolved from `stagesFile` as the app will).
 */
export function newApp(context: Record<string, unknown>, stagesFile: string = DEFAULT_STAGES_FILE): App {
  return new App({ context: { ...CDK_JSON_CONTEXT, artifactsDir: artifactsDirFor(context, stagesFile), ...context } });
}

/** {@link fakeArtifactsDir} for the architecture the stage of `context` deploys. */
export function artifactsDirFor(context: Record<string, unknown>, stagesFile: string = DEFAULT_STAGES_FILE): string {
  return fakeArtifactsDir(resolveStageConfig(new App({ context }).node, ROUTES, stagesFile).architecture);
}

/** Adds the stack for `context` to a fresh app. */
export function buildStack(context: Record<string, unknown>, inputs: AlchemiserAppInputs = {}): AlchemiserStack {
  return addAlchemiserStack(newApp(context, inputs.stagesFile), inputs);
}

const templates = new Map<string, Template>();

/** The synthesized template for `context`, cached: the stack is immutable once synthesized. */
export function templateFor(context: Record<string, unknown>): Template {
  const key = JSON.stringify(context);
  let template = templates.get(key);
  if (template === undefined) {
    template = Template.fromStack(buildStack(context));
    templates.set(key, template);
  }
  return template;
}

/** A policy statement as CloudFormation holds it (IAM allows one value or a list in most fields). */
export interface Statement {
  readonly Sid?: string;
  readonly Effect: 'Allow' | 'Deny';
  readonly Principal?: unknown;
  readonly Action: string | string[];
  readonly Resource?: unknown;
  readonly Condition?: Record<string, Record<string, unknown>>;
}

/** A policy document: one statement or a list of them. */
export interface PolicyDocument {
  readonly Statement: Statement | Statement[];
}

/**
 * A resource of a synthesized template. `P` is the shape of the properties a test reads (the
 * template itself is untyped JSON: the type is what the test expects, and `expect` checks it).
 */
export interface Resource<P = Record<string, unknown>> {
  readonly Type: string;
  readonly Properties: P;
  readonly DeletionPolicy?: string;
}

/** The properties of an `AWS::IAM::Role` the tests read. */
export interface RoleProperties {
  readonly ManagedPolicyArns?: unknown;
  readonly AssumeRolePolicyDocument: PolicyDocument;
  readonly Policies?: { readonly PolicyDocument: PolicyDocument }[];
}

/** The properties of an `AWS::IAM::Policy` the tests read. */
export interface PolicyProperties {
  readonly Roles: unknown[];
  readonly PolicyDocument: PolicyDocument;
}

/** Every resource of `type` (whose properties match `props`, when given), by logical id. */
export function resourcesOf<P = Record<string, unknown>>(
  template: Template,
  type: string,
  props?: Record<string, unknown>,
): Record<string, Resource<P>> {
  const found = props === undefined ? template.findResources(type) : template.findResources(type, { Properties: props });
  return found as Record<string, Resource<P>>;
}

/** The resource with logical id `id` (of any type: `P` says what the test expects it to hold). */
export function resourceById<P = Record<string, unknown>>(template: Template, id: string): Resource<P> {
  const resources = (template.toJSON() as { Resources: Record<string, Resource<P>> }).Resources;
  const resource = resources[id];
  if (resource === undefined) throw new Error(`no resource with logical id ${id}`);
  return resource;
}

/** The one resource of `type` whose properties match `props`: its logical id and definition. */
export function onlyResource<P = Record<string, unknown>>(
  template: Template,
  type: string,
  props: Record<string, unknown> = {},
): [string, Resource<P>] {
  const found = Object.entries(resourcesOf<P>(template, type, props));
  if (found.length !== 1) {
    throw new Error(`expected exactly one ${type} matching ${JSON.stringify(props)}, found ${found.length}`);
  }
  return found[0];
}

/** The logical id a `Ref` or `Fn::GetAtt` points at (or the value itself when it is a plain string). */
export function referencedId(value: unknown): string {
  if (typeof value === 'string') return value;
  const v = value as { Ref?: string; 'Fn::GetAtt'?: string[] };
  if (v.Ref !== undefined) return v.Ref;
  if (v['Fn::GetAtt'] !== undefined) return v['Fn::GetAtt'][0];
  throw new Error(`not a reference: ${JSON.stringify(value)}`);
}

/**
 * A string property as text: itself, or the parts of its `Fn::Join` with each reference written
 * as `Ref:<logical id>` (dashboard bodies, schedule inputs).
 */
export function joinedText(value: unknown): string {
  if (typeof value === 'string') return value;
  const join = (value as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
  if (join === undefined) throw new Error(`neither a string nor a Fn::Join: ${JSON.stringify(value)}`);
  return join[1].map((part) => (typeof part === 'string' ? part : `Ref:${referencedId(part)}`)).join(join[0]);
}

/** The properties that may hold policy statements, by resource type (see `allStatements`). */
interface PolicyHolder extends Partial<RoleProperties> {
  readonly PolicyDocument?: PolicyDocument;
  readonly KeyPolicy?: PolicyDocument;
  readonly Statement?: Statement | Statement[];
  readonly ResourcePolicy?: PolicyDocument;
}

/** Every IAM-style policy statement in the template, with where it comes from. */
export function allStatements(template: Template): { from: string; statement: Statement }[] {
  const result: { from: string; statement: Statement }[] = [];
  const push = (from: string, doc: { Statement?: Statement | Statement[] } | undefined) => {
    const statements = doc?.Statement;
    if (statements === undefined) return;
    for (const statement of Array.isArray(statements) ? statements : [statements]) result.push({ from, statement });
  };
  const resources = (template.toJSON() as { Resources: Record<string, Resource<PolicyHolder | undefined>> }).Resources;
  for (const [id, resource] of Object.entries(resources)) {
    const p = resource.Properties ?? {};
    switch (resource.Type) {
      case 'AWS::IAM::Policy':
      case 'AWS::SQS::QueuePolicy':
      case 'AWS::SNS::TopicPolicy':
        push(id, p.PolicyDocument);
        break;
      case 'AWS::IAM::Role':
        push(`${id} (trust)`, p.AssumeRolePolicyDocument);
        for (const inline of p.Policies ?? []) push(id, inline.PolicyDocument);
        break;
      case 'AWS::Events::EventBusPolicy':
        push(id, { Statement: p.Statement });
        break;
      case 'AWS::SecretsManager::ResourcePolicy':
        push(id, p.ResourcePolicy);
        break;
      case 'AWS::KMS::Key':
        push(`${id} (key policy)`, p.KeyPolicy);
        break;
      default:
        break;
    }
  }
  return result;
}

/** `x` as an array (IAM allows a single value or a list). */
export function asList<T>(x: T | T[] | undefined): T[] {
  if (x === undefined) return [];
  return Array.isArray(x) ? x : [x];
}

/**
 * What EventBridge makes of an input transformer's template for one event: each `<name>` replaced
 * by the JSON of the value its path selects (a string quoted and escaped, a number as is), which
 * is how EventBridge fills a placeholder that stands as a JSON value. Throws on a placeholder the
 * paths map does not define.
 */
export function renderInputTemplate(template: string, pathsMap: Record<string, string>, event: Record<string, unknown>): string {
  return template.replace(/<([A-Za-z0-9_.-]+)>/g, (_, name: string) => {
    const path = pathsMap[name];
    if (path === undefined) throw new Error(`placeholder <${name}> is not in the InputPathsMap`);
    const value = path
      .replace(/^\$\./, '')
      .split('.')
      .reduce<unknown>((at, key) => (at as Record<string, unknown> | undefined)?.[key], event);
    return JSON.stringify(value);
  });
}

/** Writes `content` as JSON to `<a new temporary folder>/<name>` and returns the file's path. */
export function writeTempJson(name: string, content: unknown): string {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'alchemiser-test-')), name);
  fs.writeFileSync(file, JSON.stringify(content));
  return file;
}

/** A stages file whose stage `lab` has `settings` (over the checked-in defaults, rules enabled). */
export function labStagesFile(settings: Record<string, unknown>): string {
  const checkedIn = JSON.parse(fs.readFileSync(DEFAULT_STAGES_FILE, 'utf8')) as { defaults: unknown };
  return writeTempJson('stages.json', { defaults: checkedIn.defaults, stages: { lab: { rulesEnabled: true, ...settings } } });
}

/** A handler to add to a copy of routes.json: its spec, as `alchemiser routes --json` would write it. */
export interface AddedHandler {
  readonly handler: string;
  readonly job?: string;
  readonly timeout_seconds?: number;
  readonly memory_mb?: number;
  readonly needs?: readonly string[];
  /** The variables of its needs (Need::variables in lib/events/src/registry.rs). */
  readonly variables?: readonly string[];
  readonly schedule?: unknown;
  readonly python_counterpart?: string | null;
  readonly shadow_refusal?: string | null;
  /** Types it consumes: it becomes their consumer and gets a rule `alchemiser-<handler>-events`. */
  readonly consumes?: readonly string[];
}

/**
 * A copy of the checked-in routes.json with `added` appended, as the Rust registry would export
 * it: in `handlers` and `specs`, a consumer of the routes of what it consumes (it publishes
 * nothing), and a rule for them with every producer's source. No infra code knows of it.
 */
export function routesWithHandler(...added: AddedHandler[]): RoutingTable {
  const table = JSON.parse(fs.readFileSync(DEFAULT_ROUTES_FILE, 'utf8')) as {
    handlers: string[];
    specs: unknown[];
    ownable?: { handler: string; python_module: string }[];
    routes: { event_type: string; producers: { source: string }[]; consumers: string[] }[];
    rules: unknown[];
  };
  for (const h of added) {
    const consumes = h.consumes ?? [];
    table.handlers.push(h.handler);
    table.specs.push({
      handler: h.handler,
      job: h.job ?? `Does the ${h.handler}'s job`,
      timeout_seconds: h.timeout_seconds ?? 30,
      memory_mb: h.memory_mb ?? 128,
      needs: h.needs ?? [],
      variables: h.variables ?? [],
      schedule: h.schedule ?? null,
      python_counterpart: h.python_counterpart ?? null,
      shadow_refusal: h.shadow_refusal ?? null,
      consumes,
      produces: [],
    });
    if (h.python_counterpart) table.ownable?.push({ handler: h.handler, python_module: h.python_counterpart });
    const routes = table.routes.filter((r) => consumes.includes(r.event_type));
    for (const route of routes) route.consumers.push(h.handler);
    if (consumes.length > 0) {
      const sources = [...new Set(routes.flatMap((r) => r.producers.map((p) => p.source)))].sort();
      table.rules.push({ handler: h.handler, name: `alchemiser-${h.handler}-events`, event_types: consumes, sources });
    }
  }
  return table as unknown as RoutingTable;
}
