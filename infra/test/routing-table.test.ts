import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { deliveredRoutes, publishingHandlers, validateRoutingTable } from '../lib/routing-table';
import { ROUTES, buildStack } from './helpers';

/** The table as plain, writable JSON, for tests that break it on purpose (the validator takes `unknown`). */
interface RawTable {
  source_prefix: string;
  handlers: string[];
  routes: { event_type: string; producer: string; source: string; consumer: string | null }[];
}

const valid = () => JSON.parse(JSON.stringify(ROUTES)) as RawTable;

describe('routing table', () => {
  test('the checked-in table has the four handlers and an archive-only WorkflowStarted', () => {
    expect(validateRoutingTable(valid())).toEqual(ROUTES);
    expect(ROUTES.handlers).toEqual(['strategy', 'portfolio', 'execution', 'monitor']);
    expect(deliveredRoutes(ROUTES).map((r) => r.event_type)).not.toContain('WorkflowStarted');
    expect([...publishingHandlers(ROUTES)].sort()).toEqual(['execution', 'portfolio', 'strategy']);
  });

  test.each<[string, (t: RawTable) => void, RegExp]>([
    ['a source outside the prefix', (t) => (t.routes[1].source = 'other.strategy'), /routes\[1\]\.source must start with "alchemiser\."/],
    ['an unknown consumer', (t) => (t.routes[1].consumer = 'nobody'), /consumer "nobody" is not in handlers/],
    ['an unknown producer', (t) => (t.routes[1].producer = 'nobody'), /producer "nobody" is not in handlers/],
    ['a duplicated event type', (t) => t.routes.push({ ...t.routes[1] }), /appears twice/],
    ['no routes', (t) => (t.routes = []), /routes must be a non-empty array/],
    ['a handler name unfit for resource names', (t) => t.handlers.push('Bad_Name'), /lowercase letters/],
  ])('rejects %s', (_, mutate, message) => {
    const table = valid();
    mutate(table);
    expect(() => validateRoutingTable(table)).toThrow(message);
  });

  test('rules follow the file: a route added to the table becomes a rule without touching TypeScript', () => {
    const table = valid();
    table.routes.push({ event_type: 'OrderRejected', producer: 'execution', source: 'alchemiser.execution', consumer: 'monitor' });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alchemiser-routes-'));
    const file = path.join(dir, 'routes.json');
    fs.writeFileSync(file, JSON.stringify(table));
    const template = Template.fromStack(buildStack({ stage: 'dev' }, { routesFile: file }));
    template.resourceCountIs('AWS::Events::Rule', deliveredRoutes(ROUTES).length + 1);
    template.hasResourceProperties('AWS::Events::Rule', {
      Name: 'alchemiser-OrderRejected-to-monitor-dev',
      EventPattern: { source: ['alchemiser.execution'], 'detail-type': ['OrderRejected'] },
    });
  });

  test('a handler without a deployment profile fails the synth with the file to edit', () => {
    const table = valid();
    table.handlers.push('reporter');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alchemiser-routes-'));
    const file = path.join(dir, 'routes.json');
    fs.writeFileSync(file, JSON.stringify(table));
    expect(() => buildStack({ stage: 'dev', placeholderArtifacts: true }, { routesFile: file })).toThrow(
      /Handler "reporter" .* has no deployment profile: add one to infra\/lib\/handler-profiles\.ts/,
    );
  });
});
