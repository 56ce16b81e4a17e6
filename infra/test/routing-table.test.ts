import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import {
  NEEDS,
  ownableHandlers,
  pythonSources,
  pythonSourcesOwnedBy,
  rustProducers,
  rustSourceOf,
  rustSources,
  signersConsumedBy,
  sourcesOf,
  specOf,
  typesPublishedBy,
  validateRoutingTable,
} from '../lib/routing-table';
import { ROUTES, RUST_SOURCES, SIGNERS, buildStack } from './helpers';

const HANDLER_COUNT = ROUTES.handlers.length;

/** The table as plain, writable JSON, for tests that break it on purpose (the validator takes `unknown`). */
interface RawTable {
  source_prefix: string;
  python_source_prefix: string;
  handlers: string[];
  specs: RawSpec[];
  default_workflow_deadline_seconds: unknown;
  ownable?: { handler: string; python_module: string }[];
  routes: { event_type: string; producers: { module: string; language: string; source: string }[]; consumers: string[] }[];
  rules: { handler: string; name: string; event_types: string[]; sources: string[] }[];
}

/** One spec as the file holds it (`unknown` where tests put values of the wrong type). */
interface RawSpec {
  handler: string;
  job: unknown;
  timeout_seconds: unknown;
  memory_mb: unknown;
  needs: unknown[];
  variables: unknown[];
  schedule: unknown;
  python_counterpart: unknown;
  shadow_refusal: unknown;
  consumes: string[];
  produces: string[];
}

const valid = () => JSON.parse(JSON.stringify(ROUTES)) as RawTable;
const route = (t: RawTable, type: string) => t.routes.find((r) => r.event_type === type)!;
const rule = (t: RawTable, handler: string) => t.rules.find((r) => r.handler === handler)!;
const spec = (t: RawTable, handler: string) => t.specs.find((s) => s.handler === handler)!;

/** The raw table as the helpers type it (sourcesOf reads only the routes, so half-edited rules do not matter). */
const asTable = (t: RawTable) => t as unknown as Parameters<typeof sourcesOf>[0];

function writeTable(table: RawTable): string {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'alchemiser-routes-')), 'routes.json');
  fs.writeFileSync(file, JSON.stringify(table));
  return file;
}

describe('routing table', () => {
  test('the checked-in table: a spec per handler, the ones with a Python counterpart ownable, a rule per consuming handler', () => {
    expect(validateRoutingTable(valid())).toEqual(ROUTES);
    expect(ROUTES.specs.map((s) => s.handler)).toEqual(ROUTES.handlers);
    const ownable = ROUTES.specs.filter((s) => s.python_counterpart !== null);
    expect(ownableHandlers(ROUTES)).toEqual(ownable.map((s) => ({ handler: s.handler, python_module: s.python_counterpart })));
    // The file's own `ownable` says the same (the validator checks it; this says so in a test).
    expect((valid().ownable ?? []).map((o) => o.handler)).toEqual(ownable.map((s) => s.handler));
    // The monitor only observes: no Python module does its job, so no stage hands it over.
    expect(ownable.map((s) => s.handler)).not.toContain('monitor');
    expect(ROUTES.rules.map((r) => r.handler)).toEqual(ROUTES.specs.filter((s) => s.consumes.length > 0).map((s) => s.handler));
    expect(ROUTES.default_workflow_deadline_seconds).toBe(30 * 60);
  });

  test('specOf: the spec of a handler, or an error naming the handlers there are', () => {
    expect(specOf(ROUTES, 'execution').timeout_seconds).toBe(120);
    expect(() => specOf(ROUTES, 'reporter')).toThrow(
      `The routing table has no handler "reporter" (handlers: ${ROUTES.handlers.join(', ')}); handlers and their specs come from lib/events/src/registry.rs.`,
    );
  });

  test('every need the registry names is one the stack knows, and each spec lists the variables its needs bring', () => {
    for (const s of ROUTES.specs) {
      for (const need of s.needs) expect(NEEDS).toContain(need);
      expect(s.variables.length > 0).toBe(s.needs.length > 0);
    }
  });

  test('what each Rust handler publishes, and with which source', () => {
    expect(typesPublishedBy(ROUTES, 'strategy')).toEqual(['WorkflowStarted', 'SignalGenerated', 'WorkflowFailed']);
    expect(typesPublishedBy(ROUTES, 'portfolio')).toEqual(['RebalancePlanned', 'WorkflowFailed']);
    // What execution publishes besides (a type added after these) may grow; these it always does.
    expect(typesPublishedBy(ROUTES, 'execution')).toEqual(expect.arrayContaining(['TradeExecuted', 'WorkflowCompleted', 'WorkflowFailed']));
    expect(typesPublishedBy(ROUTES, 'execution')).not.toContain('RebalancePlanned');
    expect(typesPublishedBy(ROUTES, 'monitor')).toEqual(['WorkflowFailed']);
    expect(rustSourceOf(ROUTES, 'portfolio')).toBe('alchemiser.portfolio');
  });

  test('signers: every Rust producer signs; each consumer verifies the Rust producers of what it consumes', () => {
    expect(rustProducers(ROUTES)).toEqual(SIGNERS);
    expect(signersConsumedBy(ROUTES, 'strategy')).toEqual([]);
    expect(signersConsumedBy(ROUTES, 'portfolio')).toEqual(['strategy']);
    expect(signersConsumedBy(ROUTES, 'execution')).toEqual(['portfolio']);
    // The monitor records every event: it verifies every Rust producer, itself included.
    expect(signersConsumedBy(ROUTES, 'monitor')).toEqual([...rustProducers(ROUTES)].sort());
    expect(signersConsumedBy(ROUTES, 'monitor')).toContain('monitor');
  });

  test('Rust and Python sources apart', () => {
    expect(rustSources(ROUTES)).toEqual(RUST_SOURCES);
    expect(rustSources(ROUTES)).toEqual(expect.arrayContaining(['alchemiser.execution', 'alchemiser.monitor', 'alchemiser.portfolio', 'alchemiser.strategy']));
    expect(pythonSources(ROUTES)).toEqual([
      'alchemiser.execution_v2.handlers',
      'alchemiser.orchestration.event_driven_orchestrator',
      'alchemiser.portfolio_v2.handlers',
      'alchemiser.strategy_v2.handlers',
    ]);
  });

  test('unsigned sources: the Python modules of the handlers Python owns, and the sole Python producers of their types', () => {
    expect(pythonSourcesOwnedBy(ROUTES, [])).toEqual([]);
    expect(pythonSourcesOwnedBy(ROUTES, ['execution'])).toEqual(['alchemiser.execution_v2.handlers']);
    expect(pythonSourcesOwnedBy(ROUTES, ['portfolio', 'execution'])).toEqual(['alchemiser.execution_v2.handlers', 'alchemiser.portfolio_v2.handlers']);
    // WorkflowStarted is the strategy's job alone in Rust: the Python orchestrator's is the live one.
    expect(pythonSourcesOwnedBy(ROUTES, ['strategy'])).toEqual([
      'alchemiser.orchestration.event_driven_orchestrator',
      'alchemiser.strategy_v2.handlers',
    ]);
  });

  test('a source may not be both a Rust and a Python source (the bus would reserve and refuse it at once)', () => {
    const table = valid();
    table.python_source_prefix = 'alchemiser';
    const failed = route(table, 'WorkflowFailed');
    failed.producers.push({ module: 'monitor', language: 'python', source: 'alchemiser.monitor' });
    expect(() => validateRoutingTable(table)).toThrow('source "alchemiser.monitor" is both a Rust and a Python source');
  });

  test('sources of a type: every Rust and Python producer, sorted, once each', () => {
    // Every Rust handler may fail a workflow, and each Python stage.
    expect(sourcesOf(ROUTES, ['WorkflowFailed'])).toEqual(
      [...RUST_SOURCES, 'alchemiser.execution_v2.handlers', 'alchemiser.portfolio_v2.handlers', 'alchemiser.strategy_v2.handlers'].sort(),
    );
    expect(sourcesOf(ROUTES, ['RebalancePlanned'])).toEqual(rule(valid(), 'execution').sources);
  });

  test.each<[string, (t: RawTable) => void, RegExp]>([
    ['a missing python_source_prefix', (t) => delete (t as Partial<RawTable>).python_source_prefix, /python_source_prefix must be/],
    ['a handler name unfit for resource names', (t) => t.handlers.push('Bad_Name'), /lowercase letters/],
    ['a handler listed twice', (t) => t.handlers.push('monitor'), /handler "monitor" appears twice/],
    ['an unknown ownable handler', (t) => t.ownable!.push({ handler: 'nobody', python_module: 'x.y' }), /ownable\[3\]\.handler "nobody" is not in handlers/],
    [
      'an ownable list that disagrees with the specs',
      (t) => (t.ownable = t.ownable!.filter((o) => o.handler !== 'portfolio')),
      /ownable must be the handlers whose spec has a python_counterpart, in handler order/,
    ],
    ['a Python counterpart the ownable list does not name', (t) => (spec(t, 'monitor').python_counterpart = 'monitor_v2.handlers'), /ownable must be/],
    ['no specs', (t) => delete (t as Partial<RawTable>).specs, /specs must be an array/],
    [
      'a handler without a spec',
      (t) => t.handlers.push('reporter'),
      new RegExp(`specs must hold one spec per handler \\(${HANDLER_COUNT + 1}, in the order of handlers\\), got ${HANDLER_COUNT}`),
    ],
    ['specs out of handler order', (t) => t.specs.reverse(), /specs\[0\]\.handler must be "strategy" \(one spec per handler, in the order of handlers\), got "monitor"/],
    ['a timeout Lambda refuses', (t) => (spec(t, 'execution').timeout_seconds = 901), /specs\[2\] \(handler execution\)\.timeout_seconds must be .* \(1 to 900\), got 901/],
    ['a timeout of no seconds', (t) => (spec(t, 'execution').timeout_seconds = 0), /timeout_seconds must be/],
    ['a fractional timeout', (t) => (spec(t, 'execution').timeout_seconds = 1.5), /timeout_seconds must be/],
    ['memory Lambda refuses', (t) => (spec(t, 'monitor').memory_mb = 64), /\(handler monitor\)\.memory_mb must be .* \(128 to 10240\), got 64/],
    ['too much memory', (t) => (spec(t, 'monitor').memory_mb = 10241), /memory_mb must be/],
    ['an unknown need', (t) => spec(t, 'portfolio').needs.push('coffee'), /\(handler portfolio\)\.needs: "coffee" is not a need the stack knows \(broker, trading_halt,/],
    ['a need listed twice', (t) => spec(t, 'portfolio').needs.push('broker'), /needs lists a need twice/],
    ['a variable that is no variable name', (t) => spec(t, 'portfolio').variables.push('not a name'), /variables: "not a name" is not a variable name/],
    ['an unknown schedule kind', (t) => (spec(t, 'monitor').schedule = { kind: 'hourly' }), /schedule\.kind must be "market_days" or "every", got "hourly"/],
    ['a schedule that is not an object', (t) => (spec(t, 'monitor').schedule = 'every 5 minutes'), /schedule must be null, \{"kind": "market_days"\}/],
    ['an every schedule without minutes', (t) => (spec(t, 'monitor').schedule = { kind: 'every' }), /every takes minutes, a whole number from 1 to 1440/],
    ['an every schedule of no minutes', (t) => (spec(t, 'monitor').schedule = { kind: 'every', minutes: 0 }), /every takes minutes/],
    ['a market_days schedule with a setting', (t) => (spec(t, 'strategy').schedule = { kind: 'market_days', at: '15:45' }), /market_days takes no other key/],
    ['an empty shadow refusal', (t) => (spec(t, 'strategy').shadow_refusal = ''), /shadow_refusal must be null or the reason/],
    ['a spec missing a consumed type', (t) => spec(t, 'monitor').consumes.pop(), /\(handler monitor\)\.consumes must be the types the routes deliver to it/],
    ['a spec consuming what no route delivers to it', (t) => spec(t, 'strategy').consumes.push('TradeExecuted'), /\(handler strategy\)\.consumes must be/],
    ['a spec missing a produced type', (t) => spec(t, 'execution').produces.pop(), /\(handler execution\)\.produces must be the types the routes say it publishes/],
    ['a default deadline that is not whole minutes', (t) => (t.default_workflow_deadline_seconds = 90), /default_workflow_deadline_seconds must be whole minutes from 60 to 86400 s, got 90/],
    ['no default deadline', (t) => delete (t as Partial<RawTable>).default_workflow_deadline_seconds, /default_workflow_deadline_seconds must be/],
    ['no routes', (t) => (t.routes = []), /routes must be a non-empty array/],
    ['a duplicated event type', (t) => t.routes.push({ ...t.routes[1] }), /appears twice/],
    ['a route without producers', (t) => (route(t, 'TradeExecuted').producers = []), /producers must be a non-empty array/],
    ['a producer language other than rust or python', (t) => (route(t, 'TradeExecuted').producers[0].language = 'go'), /language must be "rust" or "python"/],
    ['a Rust producer that is not a handler', (t) => (route(t, 'TradeExecuted').producers[0].module = 'nobody'), /module "nobody" is not in handlers/],
    [
      'a Rust source that is not <prefix>.<handler>',
      (t) => (route(t, 'TradeExecuted').producers[0].source = 'alchemiser.portfolio'),
      /source must be "alchemiser\.execution"/,
    ],
    [
      'a Python source that is not <python prefix>.<module>',
      (t) => (route(t, 'TradeExecuted').producers[1].source = 'alchemiser.execution'),
      /source must be "alchemiser\.execution_v2\.handlers"/,
    ],
    ['an unknown consumer', (t) => route(t, 'TradeExecuted').consumers.push('nobody'), /consumers: "nobody" is not in handlers/],
    ['a consuming handler without a rule', (t) => (t.rules = t.rules.filter((r) => r.handler !== 'execution')), /"execution" consumes RebalancePlanned but has no rule/],
    ['two rules for one handler', (t) => t.rules.push({ ...rule(t, 'monitor'), name: 'other' }), /handler "monitor" has a second rule/],
    ['a rule missing a type its handler consumes', (t) => rule(t, 'monitor').event_types.pop(), /event_types must be the types it consumes/],
    ['a rule missing a producer source', (t) => (rule(t, 'execution').sources = ['alchemiser.portfolio']), /sources must be every producer source of its types/],
    ['a rule name EventBridge refuses', (t) => (rule(t, 'monitor').name = 'monitor events'), /name must be letters, digits/],
  ])('rejects %s, naming where', (_, mutate, message) => {
    const table = valid();
    mutate(table);
    expect(() => validateRoutingTable(table)).toThrow(message);
  });

  test('without `ownable` the table is read all the same: the specs say which handlers are ownable', () => {
    const table = valid();
    delete table.ownable;
    expect(ownableHandlers(validateRoutingTable(table))).toEqual(ownableHandlers(ROUTES));
  });

  test('the stack follows the file: a new consumer with its rule becomes a rule without touching TypeScript', () => {
    const table = valid();
    route(table, 'TradeExecuted').consumers.push('portfolio');
    spec(table, 'portfolio').consumes.push('TradeExecuted');
    const portfolio = rule(table, 'portfolio');
    portfolio.event_types.push('TradeExecuted');
    portfolio.sources = [...new Set([...portfolio.sources, ...route(table, 'TradeExecuted').producers.map((p) => p.source)])].sort();
    // e2e-mix: a stage with Python owners, whose rules keep the Python sources.
    const template = Template.fromStack(buildStack({ stage: 'e2e-mix' }, { routesFile: writeTable(table) }));
    template.hasResourceProperties('AWS::Events::Rule', {
      Name: 'alchemiser-portfolio-events-e2e-mix',
      EventPattern: { source: portfolio.sources, 'detail-type': ['SignalGenerated', 'TradeExecuted'] },
    });
  });

  test('a Python prefix of its own: on a stage with a Python owner, rules match its sources and the archive keeps both prefixes', () => {
    const table = valid();
    table.python_source_prefix = 'legacy';
    for (const r of table.routes) {
      for (const p of r.producers) if (p.language === 'python') p.source = `legacy.${p.module}`;
    }
    for (const spec of table.rules) spec.sources = sourcesOf(asTable(table), spec.event_types);
    const routesFile = writeTable(table);
    const template = Template.fromStack(buildStack({ stage: 'e2e-mix' }, { routesFile }));
    template.hasResourceProperties('AWS::Events::Archive', {
      EventPattern: { source: [{ prefix: 'alchemiser.' }, { prefix: 'legacy.' }] },
    });
    template.hasResourceProperties('AWS::Events::Rule', {
      Name: 'alchemiser-portfolio-events-e2e-mix',
      EventPattern: { source: ['alchemiser.strategy', 'legacy.strategy_v2.handlers'], 'detail-type': ['SignalGenerated'] },
    });
    // Without a Python owner, the same table reaches neither the rules nor the archive with a legacy source.
    const dev = Template.fromStack(buildStack({ stage: 'dev' }, { routesFile }));
    const patterns = JSON.stringify([dev.findResources('AWS::Events::Rule'), dev.findResources('AWS::Events::Archive')]);
    expect(patterns).toContain('alchemiser.strategy');
    expect(patterns).not.toContain('legacy.');
  });

  test('a malformed file fails the synth with the file and the reason', () => {
    const table = valid();
    route(table, 'TradeExecuted').producers[0].source = 'other.execution';
    const file = writeTable(table);
    expect(() => buildStack({ stage: 'dev' }, { routesFile: file })).toThrow(
      `${file}: routes[3].producers[0].source must be "alchemiser.execution"`,
    );
  });

  test('a handler without a spec fails the synth with the file and the reason', () => {
    const table = valid();
    table.handlers.push('reporter');
    const file = writeTable(table);
    expect(() => buildStack({ stage: 'dev', placeholderArtifacts: true }, { routesFile: file })).toThrow(
      `${file}: specs must hold one spec per handler (${HANDLER_COUNT + 1}, in the order of handlers), got ${HANDLER_COUNT}`,
    );
  });
});
