import type { Template } from 'aws-cdk-lib/assertions';
import { ROUTES, SIGNERS, asList, onlyResource, referencedId, resourcesOf, templateFor, type Statement } from './helpers';

/** The sources of the checked-in routing table, by language: each Rust producer's `alchemiser.<handler>`. */
const RUST_SOURCES: Record<string, string> = Object.fromEntries(SIGNERS.map((handler) => [handler, `alchemiser.${handler}`]));
const PYTHON_SOURCES = [
  'alchemiser.execution_v2.handlers',
  'alchemiser.orchestration.event_driven_orchestrator',
  'alchemiser.portfolio_v2.handlers',
  'alchemiser.strategy_v2.handlers',
];

interface BusPolicyProperties {
  readonly EventBusName: unknown;
  readonly StatementId: string;
  readonly Statement: Statement;
}

/** A caller of PutEvents: a role (by logical id), or any other principal of the account (`undefined`). */
type Caller = string | undefined;

/** A condition value as text: a plain string, or the logical id of the resource whose ARN it takes. */
const text = (value: unknown): string => (typeof value === 'string' ? value : referencedId(value));

/**
 * Whether the bus policy's Deny statements refuse a PutEvents call by `caller` with entries of
 * `sources`. Understands exactly the operators the stack uses and fails the test on any other, so
 * a changed policy cannot pass by being misread.
 */
function deniedBy(statements: readonly Statement[], caller: Caller, sources: readonly string[]): string[] {
  const denied: string[] = [];
  for (const statement of statements.filter((s) => s.Effect === 'Deny')) {
    expect(statement.Principal).toEqual({ AWS: '*' });
    expect(statement.Action).toBe('events:PutEvents');
    const matches = Object.entries(statement.Condition ?? {}).every(([operator, keys]) => {
      const [[key, raw]] = Object.entries(keys);
      const values = asList<unknown>(raw as unknown[]).map(text);
      switch (`${operator} ${key}`) {
        case 'ForAnyValue:StringEquals events:source':
          return sources.some((source) => values.includes(source));
        case 'ArnNotEquals aws:PrincipalArn':
          return caller === undefined || !values.includes(caller);
        default:
          throw new Error(`the test does not know ${operator} ${key}`);
      }
    });
    if (matches) denied.push(statement.Sid ?? '?');
  }
  return denied;
}

const busPolicies = (template: Template) =>
  Object.values(resourcesOf<BusPolicyProperties>(template, 'AWS::Events::EventBusPolicy')).map((p) => p.Properties);
const roleOf = (template: Template, stage: string, handler: string) =>
  referencedId(
    onlyResource<{ Role: unknown }>(template, 'AWS::Lambda::Function', { FunctionName: `alchemiser-${handler}-${stage}` })[1].Properties.Role,
  );
const operatorOf = (template: Template, stage: string) =>
  onlyResource(template, 'AWS::IAM::Role', { RoleName: `alchemiser-operator-${stage}` })[0];

describe.each(['dev', 'prod', 'e2e'])('bus policy of stage %s (no Python owner)', (stage) => {
  let template: Template;
  let statements: Statement[];
  beforeAll(() => {
    template = templateFor({ stage });
    statements = busPolicies(template).map((p) => p.Statement);
  });

  test('one statement per resource, each id carrying the stage (statement ids are unique in the account)', () => {
    const ids = busPolicies(template).map((p) => p.StatementId);
    expect(ids.sort()).toEqual(
      [
        `cdk-ThisAccountOnly-${stage}`,
        ...ROUTES.handlers.map((h) => `cdk-ReserveSource-${h}-${stage}`),
        `cdk-RefusePythonSources-${stage}`,
      ].sort(),
    );
    for (const p of busPolicies(template)) expect(p.Statement.Sid).toBe(p.StatementId);
  });

  test('only this account may put events', () => {
    const allows = statements.filter((s) => s.Effect === 'Allow');
    expect(allows).toEqual([
      {
        Sid: `cdk-ThisAccountOnly-${stage}`,
        Effect: 'Allow',
        Action: 'events:PutEvents',
        Principal: { AWS: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::', { Ref: 'AWS::AccountId' }, ':root']] } },
        Resource: { 'Fn::GetAtt': [onlyResource(template, 'AWS::Events::EventBus')[0], 'Arn'] },
      },
    ]);
  });

  test.each(Object.entries(RUST_SOURCES))('%s source: its own role and the operator may publish it, no other principal', (handler, source) => {
    expect(deniedBy(statements, roleOf(template, stage, handler), [source])).toEqual([]);
    expect(deniedBy(statements, operatorOf(template, stage), [source])).toEqual([]);
    // Another function's role, and any other principal of the account (an administrator, a PowerUser).
    for (const other of ROUTES.handlers.filter((h) => h !== handler)) {
      expect(deniedBy(statements, roleOf(template, stage, other), [source])).toEqual([`cdk-ReserveSource-${handler}-${stage}`]);
    }
    expect(deniedBy(statements, undefined, [source])).toEqual([`cdk-ReserveSource-${handler}-${stage}`]);
    // Exactly those two principals are exempt: no other role, and nothing else of the account.
    const reserve = statements.find((s) => s.Sid === `cdk-ReserveSource-${handler}-${stage}`);
    expect(reserve?.Condition).toEqual({
      'ForAnyValue:StringEquals': { 'events:source': source },
      ArnNotEquals: {
        'aws:PrincipalArn': [
          { 'Fn::GetAtt': [roleOf(template, stage, handler), 'Arn'] },
          { 'Fn::GetAtt': [operatorOf(template, stage), 'Arn'] },
        ],
      },
    });
    // One forged entry among genuine ones refuses the whole call.
    const other = ROUTES.handlers.find((h) => h !== handler)!;
    expect(deniedBy(statements, roleOf(template, stage, other), [RUST_SOURCES[other], source])).not.toEqual([]);
  });

  test.each(PYTHON_SOURCES)('%s: refused to everyone, the operator included', (source) => {
    expect(deniedBy(statements, operatorOf(template, stage), [source])).toEqual([`cdk-RefusePythonSources-${stage}`]);
    expect(deniedBy(statements, undefined, [source])).toEqual([`cdk-RefusePythonSources-${stage}`]);
  });

  test('rules and the notification rule match no Python source', () => {
    const patterns = Object.values(resourcesOf<{ EventPattern: { source: string[] } }>(template, 'AWS::Events::Rule')).map(
      (r) => r.Properties.EventPattern.source,
    );
    expect(patterns.length).toBeGreaterThan(0);
    for (const sources of patterns) {
      expect(sources.length).toBeGreaterThan(0);
      for (const source of sources) expect(Object.values(RUST_SOURCES)).toContain(source);
    }
  });
});

describe('bus policy of a stage with Python owners (e2e-mix)', () => {
  let template: Template;
  beforeAll(() => {
    template = templateFor({ stage: 'e2e-mix' });
  });

  test('the Python sources are accepted: no refusal; rules and archive match them', () => {
    const statements = busPolicies(template).map((p) => p.Statement);
    expect(statements.map((s) => s.Sid)).not.toContain('cdk-RefusePythonSources-e2e-mix');
    for (const source of PYTHON_SOURCES) expect(deniedBy(statements, undefined, [source])).toEqual([]);
    template.hasResourceProperties('AWS::Events::Archive', { EventPattern: { source: [{ prefix: 'alchemiser.' }] } });
    template.hasResourceProperties('AWS::Events::Rule', {
      Name: 'alchemiser-portfolio-events-e2e-mix',
      EventPattern: { source: ['alchemiser.strategy', 'alchemiser.strategy_v2.handlers'], 'detail-type': ['SignalGenerated'] },
    });
  });

  test('the Rust sources stay reserved', () => {
    const statements = busPolicies(template).map((p) => p.Statement);
    expect(deniedBy(statements, undefined, ['alchemiser.portfolio'])).toEqual(['cdk-ReserveSource-portfolio-e2e-mix']);
  });
});
