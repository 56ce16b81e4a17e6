import type { Template } from 'aws-cdk-lib/assertions';
import { ROUTES, allStatements, asList, joinedText, onlyResource, referencedId, resourcesOf, templateFor } from './helpers';

/** The handlers whose spec needs the switch (lib/events/src/registry.rs). */
const HALTED = ROUTES.specs.filter((s) => s.needs.includes('trading_halt')).map((s) => s.handler);

interface FunctionProperties {
  readonly Role: unknown;
  readonly Environment: { readonly Variables: Record<string, unknown> };
}

describe.each(['dev', 'prod'])('kill switch of stage %s', (stage) => {
  let template: Template;
  beforeAll(() => {
    template = templateFor({ stage });
  });
  const haltId = () => onlyResource(template, 'AWS::SSM::Parameter', { Name: `/alchemiser/${stage}/trading-halt` })[0];
  const haltArn = () => `arn:Ref:AWS::Partition:ssm:Ref:AWS::Region:Ref:AWS::AccountId:parameterRef:${haltId()}`;
  const roleOf = (handler: string) =>
    referencedId(
      onlyResource<FunctionProperties>(template, 'AWS::Lambda::Function', { FunctionName: `alchemiser-${handler}-${stage}` })[1].Properties
        .Role,
    );

  test('the parameter: a String, {"halted": false}; its properties pinned (changing one makes a deploy resume a halted stage)', () => {
    const [, parameter] = onlyResource(template, 'AWS::SSM::Parameter', { Name: `/alchemiser/${stage}/trading-halt` });
    expect(parameter.Properties).toEqual({
      Name: `/alchemiser/${stage}/trading-halt`,
      Type: 'String',
      Value: '{"halted":false}',
      Tier: 'Standard',
      Description: `Alchemiser trading halt switch (${stage}): set by alchemiser halt / resume, read before every order`,
      Tags: { project: 'alchemiser', stage },
    });
    expect(JSON.parse(parameter.Properties.Value as string)).toEqual({ halted: false });
  });

  test('the handlers that need it (execution and strategy among them) get TRADING_HALT_PARAMETER and may read it; no other', () => {
    // Execution before every order, strategy before starting a workflow: halting must stop both.
    expect(HALTED).toEqual(expect.arrayContaining(['execution', 'strategy']));
    for (const handler of ROUTES.handlers) {
      const [, fn] = onlyResource<FunctionProperties>(template, 'AWS::Lambda::Function', { FunctionName: `alchemiser-${handler}-${stage}` });
      const reads = HALTED.includes(handler);
      expect(fn.Properties.Environment.Variables.TRADING_HALT_PARAMETER).toBe(reads ? `/alchemiser/${stage}/trading-halt` : undefined);
    }
    const readers = allStatements(template)
      .filter(({ statement }) => JSON.stringify(statement.Resource ?? '').includes(`"Ref":"${haltId()}"`))
      .map(({ from, statement }) => ({ from, sid: statement.Sid, actions: [...asList(statement.Action)].sort() }));
    const policyOf = (roleId: string) =>
      Object.entries(resourcesOf<{ Roles: unknown[] }>(template, 'AWS::IAM::Policy')).find(([, p]) =>
        p.Properties.Roles.some((r) => referencedId(r) === roleId),
      )?.[0];
    const operator = onlyResource(template, 'AWS::IAM::Role', { RoleName: `alchemiser-operator-${stage}` })[0];
    expect(readers.sort((a, b) => a.from.localeCompare(b.from))).toEqual(
      [
        ...HALTED.map((handler) => ({ from: policyOf(roleOf(handler)), sid: 'ReadTradingHalt', actions: ['ssm:GetParameter'] })),
        {
          from: policyOf(operator),
          sid: 'HaltAndResumeTrading',
          actions: ['ssm:GetParameter', 'ssm:GetParameterHistory', 'ssm:PutParameter'],
        },
      ].sort((a, b) => (a.from ?? '').localeCompare(b.from ?? '')),
    );
    for (const { statement } of allStatements(template).filter(({ statement }) => statement.Sid === 'HaltAndResumeTrading')) {
      expect(joinedText(statement.Resource)).toBe(haltArn());
    }
  });
});
