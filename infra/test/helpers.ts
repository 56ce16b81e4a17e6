import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { AlchemiserStack } from '../lib/alchemiser-stack';
import { addAlchemiserStack, type AlchemiserAppInputs } from '../lib/alchemiser-app';
import { DEFAULT_ROUTES_FILE, loadRoutingTable, type RoutingTable } from '../lib/routing-table';
import { INFRA_DIR } from '../lib/stage-config';

/** The routing table the app reads, parsed independently of the app's loader for expectations. */
export const ROUTES: RoutingTable = JSON.parse(fs.readFileSync(DEFAULT_ROUTES_FILE, 'utf8')) as RoutingTable;
loadRoutingTable(DEFAULT_ROUTES_FILE); // the checked-in file must pass the app's own checks

/** Feature flags from cdk.json, so tests synthesize what `cdk synth` does. */
export const CDK_JSON_CONTEXT: Record<string, unknown> = (
  JSON.parse(fs.readFileSync(path.join(INFRA_DIR, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> }
).context;

let artifactsDir: string | undefined;

/**
 * A folder laid out like `target/lambda` with a stand-in `bootstrap.zip` per handler, so the
 * tests exercise the real zip-asset path without a Rust build.
 */
export function fakeArtifactsDir(): string {
  if (artifactsDir === undefined) {
    artifactsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'alchemiser-infra-test-'));
    for (const handler of ROUTES.handlers) {
      fs.mkdirSync(path.join(artifactsDir, handler));
      fs.writeFileSync(path.join(artifactsDir, handler, 'bootstrap.zip'), `stand-in zip for ${handler}`);
    }
  }
  return artifactsDir;
}

/** A fresh app with the cdk.json flags and the given context (artifacts default to the stand-in zips). */
export function newApp(context: Record<string, unknown>): App {
  return new App({ context: { ...CDK_JSON_CONTEXT, artifactsDir: fakeArtifactsDir(), ...context } });
}

/** Adds the stack for `context` to a fresh app. */
export function buildStack(context: Record<string, unknown>, inputs: AlchemiserAppInputs = {}): AlchemiserStack {
  return addAlchemiserStack(newApp(context), inputs);
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

type Json = Record<string, any>;

/** The one resource of `type` whose properties match `props`: its logical id and definition. */
export function onlyResource(template: Template, type: string, props: Json = {}): [string, Json] {
  const found = Object.entries(template.findResources(type, { Properties: props }));
  if (found.length !== 1) {
    throw new Error(`expected exactly one ${type} matching ${JSON.stringify(props)}, found ${found.length}`);
  }
  return found[0];
}

/** The logical id a `Ref` or `Fn::GetAtt` points at (or the value itself when it is a plain string). */
export function referencedId(value: unknown): string {
  if (typeof value === 'string') return value;
  const v = value as Json;
  if (v.Ref !== undefined) return v.Ref as string;
  if (v['Fn::GetAtt'] !== undefined) return (v['Fn::GetAtt'] as string[])[0];
  throw new Error(`not a reference: ${JSON.stringify(value)}`);
}

/** Every IAM-style policy statement in the template, with where it comes from. */
export function allStatements(template: Template): { from: string; statement: Json }[] {
  const result: { from: string; statement: Json }[] = [];
  const push = (from: string, doc: Json | undefined) => {
    const statements = doc?.Statement;
    if (statements === undefined) return;
    for (const statement of Array.isArray(statements) ? statements : [statements]) result.push({ from, statement });
  };
  const resources = template.toJSON().Resources as Record<string, Json>;
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
