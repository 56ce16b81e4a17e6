import * as fs from 'node:fs';
import * as path from 'node:path';
import { INFRA_DIR } from './stage-config';

/**
 * The checked-in routing table written by `alchemiser routes --json` from `lib/events`.
 * It is the only place that names sources and detail-types: the rules are generated from it,
 * so what a publisher sends and what a rule matches cannot drift apart.
 */
export const DEFAULT_ROUTES_FILE = path.resolve(INFRA_DIR, '..', 'lib', 'events', 'routes.json');

/** A function of the workflow; each one is deployed as `alchemiser-<handler>-<stage>`. */
export type HandlerName = string;

/** One event type: who publishes it, with which `source`, and which handler consumes it. */
export interface Route {
  readonly event_type: string;
  readonly producer: HandlerName;
  readonly source: string;
  /** `null` for events that are only archived (e.g. WorkflowStarted): no rule is created. */
  readonly consumer: HandlerName | null;
}

/** A route that is delivered to a handler, i.e. one that gets a rule. */
export interface DeliveredRoute extends Route {
  readonly consumer: HandlerName;
}

/** The whole file. */
export interface RoutingTable {
  /** Every source starts with `<source_prefix>.`; the archive keeps events with that prefix. */
  readonly source_prefix: string;
  readonly handlers: readonly HandlerName[];
  readonly routes: readonly Route[];
}

/** The routes that have a consumer, in file order. */
export function deliveredRoutes(table: RoutingTable): DeliveredRoute[] {
  return table.routes.filter((route): route is DeliveredRoute => route.consumer !== null);
}

/** The handlers that publish at least one event type. */
export function publishingHandlers(table: RoutingTable): Set<HandlerName> {
  return new Set(table.routes.map((route) => route.producer));
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

/** Checks the table's shape and consistency; exported for tests. */
export function validateRoutingTable(parsed: unknown, where = 'routing table'): RoutingTable {
  const fail = (rule: string): never => {
    throw new Error(`${where}: ${rule}`);
  };
  if (typeof parsed !== 'object' || parsed === null) return fail('must be a JSON object');
  const table = parsed as Partial<RoutingTable>;
  if (typeof table.source_prefix !== 'string' || table.source_prefix === '') fail('source_prefix must be a non-empty string');
  if (!Array.isArray(table.handlers) || table.handlers.length === 0) fail('handlers must be a non-empty array');
  if (!Array.isArray(table.routes) || table.routes.length === 0) fail('routes must be a non-empty array');
  const { source_prefix: prefix, handlers, routes } = table as RoutingTable;

  for (const handler of handlers) {
    // Handler names become function and rule names.
    if (typeof handler !== 'string' || !/^[a-z][a-z0-9-]*$/.test(handler)) {
      fail(`handler ${JSON.stringify(handler)} must be lowercase letters, digits and hyphens`);
    }
  }
  const seen = new Set<string>();
  routes.forEach((route, i) => {
    const at = `routes[${i}]`;
    if (typeof route.event_type !== 'string' || !/^[A-Za-z][A-Za-z0-9]*$/.test(route.event_type)) {
      fail(`${at}.event_type must be an alphanumeric event name`);
    }
    if (seen.has(route.event_type)) fail(`${at}: event type ${route.event_type} appears twice`);
    seen.add(route.event_type);
    if (typeof route.source !== 'string' || !route.source.startsWith(`${prefix}.`)) {
      fail(`${at}.source must start with "${prefix}."`);
    }
    if (!handlers.includes(route.producer)) fail(`${at}.producer "${route.producer}" is not in handlers`);
    if (route.consumer !== null && !handlers.includes(route.consumer)) {
      fail(`${at}.consumer "${route.consumer}" is not in handlers (use null for archive-only events)`);
    }
  });
  return { source_prefix: prefix, handlers, routes };
}
