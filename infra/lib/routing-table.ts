import * as fs from 'node:fs';
import * as path from 'node:path';
import { INFRA_DIR } from './stage-config';

/**
 * The checked-in routing table written by `alchemiser routes --json` from `lib/events`.
 * It is the only place that names sources and detail-types: the rules, the publishers' IAM
 * conditions and the notification pattern are all derived from it, so what a publisher sends and
 * what a rule matches or a role allows cannot drift apart.
 */
export const DEFAULT_ROUTES_FILE = path.resolve(INFRA_DIR, '..', 'lib', 'events', 'routes.json');

/** A function of the workflow; each one is deployed as `alchemiser-<handler>-<stage>`. */
export type HandlerName = string;

/** Which system publishes an event: our Rust functions, or the Python system on the same bus. */
export type ProducerLanguage = 'rust' | 'python';

/** One publisher of an event type and the exact `source` it sends. */
export interface Producer {
  /** A handler name for Rust producers; a Python module path (`strategy_v2.handlers`) otherwise. */
  readonly module: string;
  readonly language: ProducerLanguage;
  /** `<source_prefix>.<module>` for Rust, `<python_source_prefix>.<module>` for Python. */
  readonly source: string;
}

/** One event type: everyone who publishes it, and the handlers that consume it. */
export interface Route {
  readonly event_type: string;
  readonly producers: readonly Producer[];
  /** Empty for an event that is only archived. */
  readonly consumers: readonly HandlerName[];
}

/** A handler a stage may hand to the Python system or run in shadow (see `owners` in stage-config.ts). */
export interface OwnableHandler {
  readonly handler: HandlerName;
  /** The Python module that does the same job, e.g. `portfolio_v2.handlers`. */
  readonly python_module: string;
}

/**
 * The one EventBridge rule of a consuming handler. Its pattern is exactly
 * `{source: sources, detail-type: event_types}`: the cross product may let through a pair no
 * producer sends, which the function refuses itself (it re-checks each type against its sources).
 */
export interface RuleSpec {
  readonly handler: HandlerName;
  /** Name stem: the stack appends `-<stage>`. */
  readonly name: string;
  readonly event_types: readonly string[];
  readonly sources: readonly string[];
}

/** The whole file. */
export interface RoutingTable {
  /** Rust sources are `<source_prefix>.<handler>`. */
  readonly source_prefix: string;
  /** Python sources are `<python_source_prefix>.<module>`. */
  readonly python_source_prefix: string;
  /** One Lambda function each, in deployment order. */
  readonly handlers: readonly HandlerName[];
  readonly ownable: readonly OwnableHandler[];
  readonly routes: readonly Route[];
  readonly rules: readonly RuleSpec[];
}

/** The `source` a Rust handler publishes with: `<source_prefix>.<handler>`. */
export function rustSourceOf(table: RoutingTable, handler: HandlerName): string {
  return `${table.source_prefix}.${handler}`;
}

/** The event types the Rust `handler` publishes, in routing-table order (empty: it publishes nothing). */
export function typesPublishedBy(table: RoutingTable, handler: HandlerName): string[] {
  return table.routes
    .filter((route) => route.producers.some((p) => p.language === 'rust' && p.module === handler))
    .map((route) => route.event_type);
}

/** Every source that publishes any of `eventTypes`, Rust and Python, sorted and without duplicates. */
export function sourcesOf(table: RoutingTable, eventTypes: readonly string[]): string[] {
  const sources = table.routes
    .filter((route) => eventTypes.includes(route.event_type))
    .flatMap((route) => route.producers.map((p) => p.source));
  return [...new Set(sources)].sort();
}

/**
 * The Rust handlers that publish anything, in routing-table order: each signs what it publishes
 * with a key of its own (see signing-keys.ts).
 */
export function rustProducers(table: RoutingTable): HandlerName[] {
  return table.handlers.filter((handler) => typesPublishedBy(table, handler).length > 0);
}

/**
 * The Rust handlers whose signatures `consumer` must verify: the Rust producers of every type it
 * consumes, sorted (the consumer itself when it consumes its own events, as the monitor does).
 */
export function signersConsumedBy(table: RoutingTable, consumer: HandlerName): HandlerName[] {
  const signers = table.routes
    .filter((route) => route.consumers.includes(consumer))
    .flatMap((route) => route.producers.filter((p) => p.language === 'rust').map((p) => p.module));
  return [...new Set(signers)].sort();
}

/** Every source the Python system publishes with, sorted and without duplicates. */
export function pythonSources(table: RoutingTable): string[] {
  const sources = table.routes.flatMap((route) => route.producers.filter((p) => p.language === 'python').map((p) => p.source));
  return [...new Set(sources)].sort();
}

/** Every source our Rust handlers publish with, sorted. */
export function rustSources(table: RoutingTable): string[] {
  return rustProducers(table)
    .map((handler) => rustSourceOf(table, handler))
    .sort();
}

/**
 * The Python sources whose events are the live ones when the Python system does the jobs of
 * `pythonHandlers` (the ownable handlers it owns, or that ours only shadow): the Python module of
 * each such handler, and every Python producer of a type only those handlers produce in Rust
 * (the Python orchestrator's WorkflowStarted, when the strategy is Python's). These events come
 * unsigned; a stage accepts them from these sources only. Sorted, without duplicates.
 */
export function pythonSourcesOwnedBy(table: RoutingTable, pythonHandlers: readonly HandlerName[]): string[] {
  const owned = new Set(pythonHandlers);
  const modules = new Set(table.ownable.filter((o) => owned.has(o.handler)).map((o) => o.python_module));
  const sources = table.routes.flatMap((route) => {
    const rust = route.producers.filter((p) => p.language === 'rust');
    const wholeJobIsPython = rust.length > 0 && rust.every((p) => owned.has(p.module));
    return route.producers
      .filter((p) => p.language === 'python' && (wholeJobIsPython || modules.has(p.module)))
      .map((p) => p.source);
  });
  return [...new Set(sources)].sort();
}

/** Reads and checks the routing table; a malformed file fails the synth with the reason. */
export function loadRoutingTable(file: string = DEFAULT_ROUTES_FILE): RoutingTable {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`Cannot read the routing table ${file}: ${(err as Error).message}`, { cause: err });
  }
  return validateRoutingTable(parsed, file);
}

// Handler names become function, role and rule names; event types become detail-types, metric
// labels and construct ids.
const HANDLER_NAME = /^[a-z][a-z0-9-]*$/;
const EVENT_TYPE = /^[A-Za-z][A-Za-z0-9]*$/;
// EventBridge source values are free text, but ours are dotted lowercase paths.
const SOURCE_PREFIX = /^[a-z][a-z0-9-]*(\.[a-z][a-z0-9_-]*)*$/;
const PYTHON_MODULE = /^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*$/;
// What EventBridge allows in a rule name (before the stage suffix).
const RULE_NAME = /^[A-Za-z0-9._-]+$/;

/**
 * Checks the table's shape and consistency; exported for tests. Beyond the shape, the rules must
 * be exactly what the routes imply (one per consuming handler, its types, every producer's
 * source of them), so a hand edit of one half of the file is caught here rather than in AWS.
 */
export function validateRoutingTable(parsed: unknown, where = 'routing table'): RoutingTable {
  const fail = (rule: string): never => {
    throw new Error(`${where}: ${rule}`);
  };
  if (!isObject(parsed)) return fail('must be a JSON object');
  const sourcePrefix = parsed.source_prefix;
  const pythonPrefix = parsed.python_source_prefix;
  if (typeof sourcePrefix !== 'string' || !SOURCE_PREFIX.test(sourcePrefix)) {
    fail('source_prefix must be a dotted lowercase name such as "alchemiser"');
  }
  if (typeof pythonPrefix !== 'string' || !SOURCE_PREFIX.test(pythonPrefix)) {
    fail('python_source_prefix must be a dotted lowercase name such as "alchemiser"');
  }
  const handlers = nonEmptyArray(parsed.handlers, 'handlers', fail);
  const ownable = arrayOf(parsed.ownable, 'ownable', fail);
  const routes = nonEmptyArray(parsed.routes, 'routes', fail);
  const rules = arrayOf(parsed.rules, 'rules', fail);

  const handlerSet = new Set<string>();
  for (const handler of handlers) {
    if (typeof handler !== 'string' || !HANDLER_NAME.test(handler)) {
      fail(`handler ${JSON.stringify(handler)} must be lowercase letters, digits and hyphens`);
    }
    if (handlerSet.has(handler as string)) fail(`handler "${handler as string}" appears twice`);
    handlerSet.add(handler as string);
  }
  const isHandler = (value: unknown): value is string => typeof value === 'string' && handlerSet.has(value);

  const owned = new Set<string>();
  ownable.forEach((entry, i) => {
    const at = `ownable[${i}]`;
    if (!isObject(entry)) return fail(`${at} must be an object {handler, python_module}`);
    if (!isHandler(entry.handler)) return fail(`${at}.handler ${JSON.stringify(entry.handler)} is not in handlers`);
    if (owned.has(entry.handler)) fail(`${at}: handler "${entry.handler}" appears twice`);
    owned.add(entry.handler);
    if (typeof entry.python_module !== 'string' || !PYTHON_MODULE.test(entry.python_module)) {
      fail(`${at}.python_module must be a dotted Python module path`);
    }
  });

  const seenTypes = new Set<string>();
  routes.forEach((route, i) => {
    const at = `routes[${i}]`;
    if (!isObject(route)) return fail(`${at} must be an object`);
    if (typeof route.event_type !== 'string' || !EVENT_TYPE.test(route.event_type)) {
      return fail(`${at}.event_type must be an alphanumeric event name`);
    }
    if (seenTypes.has(route.event_type)) fail(`${at}: event type ${route.event_type} appears twice`);
    seenTypes.add(route.event_type);
    const producers = nonEmptyArray(route.producers, `${at}.producers`, fail);
    producers.forEach((producer, j) => {
      const pat = `${at}.producers[${j}]`;
      if (!isObject(producer)) return fail(`${pat} must be an object {module, language, source}`);
      if (producer.language === 'rust') {
        if (!isHandler(producer.module)) fail(`${pat}.module "${String(producer.module)}" is not in handlers`);
        const want = `${sourcePrefix as string}.${String(producer.module)}`;
        if (producer.source !== want) fail(`${pat}.source must be "${want}" (a Rust source is <source_prefix>.<handler>)`);
      } else if (producer.language === 'python') {
        if (typeof producer.module !== 'string' || !PYTHON_MODULE.test(producer.module)) {
          fail(`${pat}.module must be a dotted Python module path`);
        }
        const want = `${pythonPrefix as string}.${String(producer.module)}`;
        if (producer.source !== want) fail(`${pat}.source must be "${want}" (a Python source is <python_source_prefix>.<module>)`);
      } else {
        fail(`${pat}.language must be "rust" or "python"`);
      }
    });
    const consumers = arrayOf(route.consumers, `${at}.consumers`, fail);
    for (const consumer of consumers) {
      if (!isHandler(consumer)) fail(`${at}.consumers: "${String(consumer)}" is not in handlers`);
    }
    if (new Set(consumers).size !== consumers.length) fail(`${at}.consumers lists a handler twice`);
  });

  const table = parsed as unknown as RoutingTable;
  // The bus policy reserves each Rust source to its role and refuses the Python ones on stages
  // without a Python owner: a source that were both would be reserved and refused at once.
  const rust = new Set(rustSources(table));
  for (const source of pythonSources(table)) {
    if (rust.has(source)) fail(`source "${source}" is both a Rust and a Python source; give the Python module another name`);
  }
  const ruleOf = new Map<string, RuleSpec>();
  rules.forEach((rule, i) => {
    const at = `rules[${i}]`;
    if (!isObject(rule)) return fail(`${at} must be an object {handler, name, event_types, sources}`);
    if (!isHandler(rule.handler)) return fail(`${at}.handler ${JSON.stringify(rule.handler)} is not in handlers`);
    if (ruleOf.has(rule.handler)) fail(`${at}: handler "${rule.handler}" has a second rule`);
    if (typeof rule.name !== 'string' || !RULE_NAME.test(rule.name)) {
      fail(`${at}.name must be letters, digits, dots, hyphens and underscores`);
    }
    ruleOf.set(rule.handler, rule as unknown as RuleSpec);
  });
  const names = [...ruleOf.values()].map((r) => r.name);
  if (new Set(names).size !== names.length) fail('rules: two rules have the same name');

  // The rules must say what the routes say: exactly the consumed types, and every source of them.
  for (const handler of handlers as string[]) {
    const consumed = table.routes.filter((r) => r.consumers.includes(handler)).map((r) => r.event_type);
    const rule = ruleOf.get(handler);
    if (rule === undefined) {
      if (consumed.length > 0) fail(`rules: handler "${handler}" consumes ${consumed.join(', ')} but has no rule`);
      continue;
    }
    const at = `rules (handler ${handler})`;
    const types = arrayOf(rule.event_types, `${at}.event_types`, fail);
    const sources = arrayOf(rule.sources, `${at}.sources`, fail);
    if (!sameSet(types, consumed)) {
      fail(`${at}.event_types must be the types it consumes (${consumed.join(', ')}), got ${types.join(', ')}`);
    }
    const want = sourcesOf(table, consumed);
    if (!sameSet(sources, want)) {
      fail(`${at}.sources must be every producer source of its types (${want.join(', ')}), got ${sources.join(', ')}`);
    }
  }
  return table;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function arrayOf(value: unknown, key: string, fail: (rule: string) => never): unknown[] {
  if (!Array.isArray(value)) return fail(`${key} must be an array`);
  return value as unknown[];
}

function nonEmptyArray(value: unknown, key: string, fail: (rule: string) => never): unknown[] {
  const array = arrayOf(value, key, fail);
  if (array.length === 0) fail(`${key} must be a non-empty array`);
  return array;
}

function sameSet(a: readonly unknown[], b: readonly unknown[]): boolean {
  const left = new Set(a);
  return left.size === a.length && left.size === new Set(b).size && b.every((x) => left.has(x));
}
