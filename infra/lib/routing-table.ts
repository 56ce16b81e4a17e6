import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * The checked-in routing table written by `alchemiser routes --json` from `lib/events`.
 * It is the only place that names sources and detail-types: the rules, the publishers' IAM
 * conditions and the notification pattern are all derived from it, so what a publisher sends and
 * what a rule matches or a role allows cannot drift apart. (Resolved from this file's folder,
 * infra/lib, as stage-config.ts's INFRA_DIR is: stage-config.ts reads this module, not the reverse.)
 */
export const DEFAULT_ROUTES_FILE = path.resolve(__dirname, '..', '..', 'lib', 'events', 'routes.json');

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
 * What a handler needs from the stack beyond what every function gets (bus, queues, idempotency
 * table, signing keys); each brings environment variables and grants (`environmentOf` and
 * `grantAccess` in alchemiser-stack.ts). The meaning of each is `Need` in lib/events/src/registry.rs.
 */
export const NEEDS = [
  'broker',
  'trading_halt',
  'order_follow_ups',
  'risk_limits',
  'strategy_allocation',
  'workflow_deadline',
  'workflow_ledger',
  'dead_letters',
] as const;

/** One of {@link NEEDS}. */
export type Need = (typeof NEEDS)[number];

/**
 * When a schedule invokes a handler: on market days at the stage's `strategyRunAt`, or every
 * `minutes` minutes whatever the day.
 */
export type HandlerSchedule = { readonly kind: 'market_days' } | { readonly kind: 'every'; readonly minutes: number };

/**
 * One handler's spec from the handler registry (lib/events/src/registry.rs, `HandlerSpec`): the
 * one place for its timeout, memory, needs, schedule, Python counterpart and shadow support, and
 * the reasons behind each. The stack derives every per-handler choice from it.
 */
export interface HandlerSpec {
  readonly handler: HandlerName;
  /** What it does, in a sentence. */
  readonly job: string;
  /** Lambda's timeout, 1-900 s. */
  readonly timeout_seconds: number;
  /** Lambda's memory, 128-10240 MB. */
  readonly memory_mb: number;
  readonly needs: readonly Need[];
  /** The environment variables its needs bring, beyond those every function gets. */
  readonly variables: readonly string[];
  readonly schedule: HandlerSchedule | null;
  /** The Python module doing its job in the system being replaced; a handler with one is ownable. */
  readonly python_counterpart: string | null;
  /** Why it cannot run as a shadow; `null` when it can. */
  readonly shadow_refusal: string | null;
  /** The event types routed to it: exactly the routes it consumes. */
  readonly consumes: readonly string[];
  /** The event types it publishes: exactly the routes it produces in Rust. */
  readonly produces: readonly string[];
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
  /** One spec per handler, in the order of {@link handlers}. */
  readonly specs: readonly HandlerSpec[];
  /** How long a workflow may run before it is timed out, unless a stage sets `workflowDeadlineMinutes`. */
  readonly default_workflow_deadline_seconds: number;
  readonly routes: readonly Route[];
  readonly rules: readonly RuleSpec[];
}

/** The spec of `handler`, or a clear error when the routing table has no such handler. */
export function specOf(table: Pick<RoutingTable, 'specs'>, handler: HandlerName): HandlerSpec {
  const spec = table.specs.find((s) => s.handler === handler);
  if (spec === undefined) {
    throw new Error(
      `The routing table has no handler "${handler}" (handlers: ${table.specs.map((s) => s.handler).join(', ')}); ` +
        'handlers and their specs come from lib/events/src/registry.rs.',
    );
  }
  return spec;
}

/** Whether `handler` needs `need` from the stack (its spec's `needs`). */
export function needs(table: Pick<RoutingTable, 'specs'>, handler: HandlerName, need: Need): boolean {
  return specOf(table, handler).needs.includes(need);
}

/**
 * The handlers a stage may hand to the Python system or run in shadow: those with a Python
 * counterpart, in handler order. (The file's `ownable` says the same; the validator checks it.)
 */
export function ownableHandlers(table: Pick<RoutingTable, 'specs'>): OwnableHandler[] {
  return table.specs.flatMap((spec) => (spec.python_counterpart === null ? [] : [{ handler: spec.handler, python_module: spec.python_counterpart }]));
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
  const modules = new Set(ownableHandlers(table).filter((o) => owned.has(o.handler)).map((o) => o.python_module));
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
 * source of them), and each handler's spec must say what the routes say it consumes and
 * produces, so a hand edit of one half of the file is caught here rather than in AWS.
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
  const specs = arrayOf(parsed.specs, 'specs', fail);
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

  if (specs.length !== handlers.length) {
    fail(`specs must hold one spec per handler (${handlers.length}, in the order of handlers), got ${specs.length}`);
  }
  specs.forEach((spec, i) => checkSpec(spec, `specs[${i}]`, handlers[i] as string, fail));
  const deadline = parsed.default_workflow_deadline_seconds;
  // Stages set their deadline in whole minutes, from 1 minute to a day (stage-config.ts).
  if (typeof deadline !== 'number' || !Number.isInteger(deadline) || deadline < 60 || deadline > 86400 || deadline % 60 !== 0) {
    fail(`default_workflow_deadline_seconds must be whole minutes from 60 to 86400 s, got ${JSON.stringify(deadline)}`);
  }

  // `ownable` repeats what the specs' python_counterpart say: read from the specs, checked here
  // when the file carries it, so a hand edit of one half cannot make the two disagree.
  if (parsed.ownable !== undefined) {
    const want = ownableHandlers(parsed as unknown as RoutingTable);
    const ownable = arrayOf(parsed.ownable, 'ownable', fail).map((entry, i) => {
      const at = `ownable[${i}]`;
      if (!isObject(entry)) return fail(`${at} must be an object {handler, python_module}`);
      if (!isHandler(entry.handler)) return fail(`${at}.handler ${JSON.stringify(entry.handler)} is not in handlers`);
      return { handler: entry.handler, python_module: entry.python_module };
    });
    if (JSON.stringify(ownable) !== JSON.stringify(want)) {
      fail(
        `ownable must be the handlers whose spec has a python_counterpart, in handler order (${JSON.stringify(want)}), ` +
          `got ${JSON.stringify(ownable)}`,
      );
    }
  }

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

  // Each spec says what the routes say: what its handler consumes and what it publishes.
  table.specs.forEach((spec, i) => {
    const at = `specs[${i}] (handler ${spec.handler})`;
    const consumed = table.routes.filter((r) => r.consumers.includes(spec.handler)).map((r) => r.event_type);
    if (!sameSet(spec.consumes, consumed)) {
      fail(`${at}.consumes must be the types the routes deliver to it (${consumed.join(', ')}), got ${spec.consumes.join(', ')}`);
    }
    const produced = typesPublishedBy(table, spec.handler);
    if (!sameSet(spec.produces, produced)) {
      fail(`${at}.produces must be the types the routes say it publishes (${produced.join(', ')}), got ${spec.produces.join(', ')}`);
    }
  });
  return table;
}

/** What a spec's `variables` may name: an environment variable in upper case. */
const VARIABLE = /^[A-Z][A-Z0-9_]*$/;

/** Checks one spec's shape; that it is `handler`'s; and that its values fit Lambda and the stack. */
function checkSpec(spec: unknown, at: string, handler: string, fail: (rule: string) => never): void {
  if (!isObject(spec)) return fail(`${at} must be an object`);
  if (spec.handler !== handler) {
    fail(`${at}.handler must be "${handler}" (one spec per handler, in the order of handlers), got ${JSON.stringify(spec.handler)}`);
  }
  const here = `${at} (handler ${handler})`;
  if (typeof spec.job !== 'string' || spec.job.trim() === '') fail(`${here}.job must be a sentence`);
  const whole = (value: unknown, min: number, max: number) => typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
  if (!whole(spec.timeout_seconds, 1, 900)) {
    fail(`${here}.timeout_seconds must be a whole number of seconds Lambda allows (1 to 900), got ${JSON.stringify(spec.timeout_seconds)}`);
  }
  if (!whole(spec.memory_mb, 128, 10240)) {
    fail(`${here}.memory_mb must be a whole number of MB Lambda allows (128 to 10240), got ${JSON.stringify(spec.memory_mb)}`);
  }
  const needs = arrayOf(spec.needs, `${here}.needs`, fail);
  for (const need of needs) {
    if (!(NEEDS as readonly unknown[]).includes(need)) {
      fail(`${here}.needs: ${JSON.stringify(need)} is not a need the stack knows (${NEEDS.join(', ')})`);
    }
  }
  if (new Set(needs).size !== needs.length) fail(`${here}.needs lists a need twice`);
  const variables = arrayOf(spec.variables, `${here}.variables`, fail);
  for (const variable of variables) {
    if (typeof variable !== 'string' || !VARIABLE.test(variable)) fail(`${here}.variables: ${JSON.stringify(variable)} is not a variable name`);
  }
  if (new Set(variables).size !== variables.length) fail(`${here}.variables lists a variable twice`);
  const schedule = spec.schedule;
  if (schedule !== null) {
    const kinds = '{"kind": "market_days"} or {"kind": "every", "minutes": N}';
    if (!isObject(schedule)) return fail(`${here}.schedule must be null, ${kinds}`);
    if (schedule.kind === 'market_days') {
      if (Object.keys(schedule).length !== 1) fail(`${here}.schedule: market_days takes no other key`);
    } else if (schedule.kind === 'every') {
      if (Object.keys(schedule).length !== 2 || !whole(schedule.minutes, 1, 24 * 60)) {
        fail(`${here}.schedule: every takes minutes, a whole number from 1 to 1440, got ${JSON.stringify(schedule)}`);
      }
    } else {
      fail(`${here}.schedule.kind must be "market_days" or "every", got ${JSON.stringify(schedule.kind)}`);
    }
  }
  if (spec.python_counterpart !== null && (typeof spec.python_counterpart !== 'string' || !PYTHON_MODULE.test(spec.python_counterpart))) {
    fail(`${here}.python_counterpart must be null or a dotted Python module path`);
  }
  if (spec.shadow_refusal !== null && (typeof spec.shadow_refusal !== 'string' || spec.shadow_refusal.trim() === '')) {
    fail(`${here}.shadow_refusal must be null or the reason it cannot run as a shadow`);
  }
  for (const key of ['consumes', 'produces']) {
    const types = arrayOf(spec[key], `${here}.${key}`, fail);
    if (new Set(types).size !== types.length) fail(`${here}.${key} lists a type twice`);
  }
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
