import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import {
  ROUTES,
  allStatements,
  asList,
  buildStack,
  joinedText,
  onlyResource,
  referencedId,
  resourceById,
  resourcesOf,
  templateFor,
  type Statement,
} from './helpers';

/** Written out by hand (not derived with the code under test): who verifies whose signatures. */
const VERIFIES: Record<string, string[]> = {
  strategy: [],
  portfolio: ['strategy'],
  execution: ['portfolio'],
  monitor: ['execution', 'monitor', 'portfolio', 'strategy'],
};
const SIGNERS = ['strategy', 'portfolio', 'execution', 'monitor'];

interface KeyProperties {
  readonly KeySpec: string;
  readonly KeyUsage: string;
  readonly KeyPolicy: { readonly Statement: Statement[] };
}

interface FunctionProperties {
  readonly Role: unknown;
  readonly Environment: { readonly Variables: Record<string, unknown> };
}

/** A stack of stage `lab` with these settings (over the checked-in defaults). */
function labTemplate(settings: Record<string, unknown>): Template {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'alchemiser-signing-')), 'stages.json');
  const checkedIn = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'config', 'stages.json'), 'utf8')) as { defaults: unknown };
  fs.writeFileSync(file, JSON.stringify({ defaults: checkedIn.defaults, stages: { lab: { rulesEnabled: true, ...settings } } }));
  return Template.fromStack(buildStack({ stage: 'lab' }, { stagesFile: file }));
}

const keyIdOf = (template: Template, stage: string, signer: string): string => {
  const [, alias] = onlyResource<{ TargetKeyId: unknown }>(template, 'AWS::KMS::Alias', {
    AliasName: `alias/alchemiser-${stage}-${signer}-signing`,
  });
  return referencedId(alias.Properties.TargetKeyId);
};
const functionOf = (template: Template, stage: string, handler: string) =>
  onlyResource<FunctionProperties>(template, 'AWS::Lambda::Function', { FunctionName: `alchemiser-${handler}-${stage}` })[1];
const roleIdOf = (template: Template, stage: string, handler: string) => referencedId(functionOf(template, stage, handler).Properties.Role);
const envOf = (template: Template, stage: string, handler: string) => functionOf(template, stage, handler).Properties.Environment.Variables;

/** Every Allow statement of an IAM policy attached to `roleId`. */
function roleStatements(template: Template, roleId: string): Statement[] {
  return Object.values(resourcesOf<{ Roles: unknown[]; PolicyDocument: { Statement: Statement[] } }>(template, 'AWS::IAM::Policy'))
    .filter((p) => p.Properties.Roles.some((r) => referencedId(r) === roleId))
    .flatMap((p) => asList(p.Properties.PolicyDocument.Statement));
}

describe.each([
  ['dev', false],
  ['prod', true],
])('signing keys of stage %s', (stage, retained) => {
  let template: Template;
  beforeAll(() => {
    template = templateFor({ stage });
  });

  test('one HMAC_256 GENERATE_VERIFY_MAC key per producing Rust handler, aliased, retained as the stage says', () => {
    for (const signer of SIGNERS) {
      const key = resourceById<KeyProperties>(template, keyIdOf(template, stage, signer));
      expect(key.Properties.KeySpec).toBe('HMAC_256');
      expect(key.Properties.KeyUsage).toBe('GENERATE_VERIFY_MAC');
      expect(key.DeletionPolicy).toBe(retained ? 'Retain' : 'Delete');
    }
    const hmacKeys = Object.values(resourcesOf<KeyProperties>(template, 'AWS::KMS::Key')).filter((k) => k.Properties.KeySpec === 'HMAC_256');
    expect(hmacKeys).toHaveLength(SIGNERS.length);
  });

  test.each(SIGNERS)('%s key policy: the account administers it; every principal but the %s role is denied GenerateMac', (signer) => {
    const key = resourceById<KeyProperties>(template, keyIdOf(template, stage, signer));
    const statements = key.Properties.KeyPolicy.Statement;
    const allows = statements.filter((s) => s.Effect === 'Allow');
    // CDK's default administration statement for the account root, and no other Allow (no wildcard use grant).
    expect(allows).toHaveLength(1);
    expect(JSON.stringify(allows[0].Principal)).toContain(':root');
    expect(statements.filter((s) => s.Effect === 'Deny')).toEqual([
      {
        Sid: 'OnlyTheProducerRoleSigns',
        Effect: 'Deny',
        Principal: { AWS: '*' },
        Action: 'kms:GenerateMac',
        Resource: '*',
        Condition: { ArnNotEquals: { 'aws:PrincipalArn': { 'Fn::GetAtt': [roleIdOf(template, stage, signer), 'Arn'] } } },
      },
    ]);
  });

  test('kms:GenerateMac is allowed only to each producer role, on its own key', () => {
    const grants = allStatements(template).filter(
      ({ statement }) => statement.Effect === 'Allow' && asList(statement.Action).some((a) => a === 'kms:GenerateMac' || a === 'kms:*'),
    );
    const roleGrants = grants.filter(({ from }) => !from.endsWith('(key policy)'));
    expect(roleGrants).toHaveLength(SIGNERS.length);
    for (const signer of SIGNERS) {
      const own = roleStatements(template, roleIdOf(template, stage, signer)).filter((s) => asList(s.Action).includes('kms:GenerateMac'));
      expect(own).toEqual([
        { Sid: 'SignOwnEvents', Effect: 'Allow', Action: 'kms:GenerateMac', Resource: { 'Fn::GetAtt': [keyIdOf(template, stage, signer), 'Arn'] } },
      ]);
    }
  });

  test.each(ROUTES.handlers)('%s verifies exactly the producers of what it consumes', (handler) => {
    const verify = roleStatements(template, roleIdOf(template, stage, handler)).filter((s) => asList(s.Action).includes('kms:VerifyMac'));
    expect(verify.map((s) => referencedId(s.Resource)).sort()).toEqual(VERIFIES[handler].map((s) => keyIdOf(template, stage, s)).sort());
    for (const s of verify) expect(s.Action).toBe('kms:VerifyMac');
  });

  test.each(ROUTES.handlers)('%s environment: SIGNING_KEY_ID, VERIFY_KEY_IDS (signer → key ARN), no unsigned source', (handler) => {
    const env = envOf(template, stage, handler);
    expect(env.SIGNING_KEY_ID).toEqual({ 'Fn::GetAtt': [keyIdOf(template, stage, handler), 'Arn'] });
    const verify = JSON.parse(joinedText(env.VERIFY_KEY_IDS)) as Record<string, string>;
    expect(verify).toEqual(Object.fromEntries(VERIFIES[handler].map((s) => [s, `Ref:${keyIdOf(template, stage, s)}`])));
    // Neither stage has a Python owner: every event must be signed.
    expect(env.UNSIGNED_SOURCES).toBe('');
  });
});

/** The `/alchemiser/<stage>/authenticity` parameter the CLI verifies with, parsed. */
function authenticityOf(template: Template, stage: string): { verify_key_ids: Record<string, string>; unsigned_sources: string[] } {
  const [, parameter] = onlyResource<{ Value: unknown }>(template, 'AWS::SSM::Parameter', { Name: `/alchemiser/${stage}/authenticity` });
  return JSON.parse(joinedText(parameter.Properties.Value)) as { verify_key_ids: Record<string, string>; unsigned_sources: string[] };
}

describe('what the operations verify with', () => {
  test.each(['dev', 'prod'])('stage %s publishes every signer\'s key and no unsigned source; the operator may read it', (stage) => {
    const template = templateFor({ stage });
    const authenticity = authenticityOf(template, stage);
    expect(authenticity.verify_key_ids).toEqual(Object.fromEntries([...SIGNERS].sort().map((s) => [s, `Ref:${keyIdOf(template, stage, s)}`])));
    expect(authenticity.unsigned_sources).toEqual([]);
    const [parameterId] = onlyResource(template, 'AWS::SSM::Parameter', { Name: `/alchemiser/${stage}/authenticity` });
    const operatorId = onlyResource(template, 'AWS::IAM::Role', { RoleName: `alchemiser-operator-${stage}` })[0];
    const reads = roleStatements(template, operatorId).filter((s) => asList(s.Action).includes('ssm:GetParameter'));
    expect(reads.flatMap((s) => asList(s.Resource)).map((r) => JSON.stringify(r)).join(' ')).toContain(parameterId);
  });

  test('a stage with Python owners lists the same unsigned sources its functions accept', () => {
    const template = templateFor({ stage: 'e2e-mix' });
    expect(authenticityOf(template, 'e2e-mix').unsigned_sources.join(',')).toBe(envOf(template, 'e2e-mix', 'execution').UNSIGNED_SOURCES);
  });
});

describe('unsigned sources on stages with Python owners', () => {
  test('e2e-mix (shadow portfolio, Python execution): the Python portfolio and execution sources, on every function', () => {
    const template = templateFor({ stage: 'e2e-mix' });
    for (const handler of ROUTES.handlers) {
      expect(envOf(template, 'e2e-mix', handler).UNSIGNED_SOURCES).toBe('alchemiser.execution_v2.handlers,alchemiser.portfolio_v2.handlers');
    }
  });

  test('a Python strategy: its module and the orchestrator that starts its workflows', () => {
    const template = labTemplate({ owners: { strategy: 'python' } });
    expect(envOf(template, 'lab', 'monitor').UNSIGNED_SOURCES).toBe(
      'alchemiser.orchestration.event_driven_orchestrator,alchemiser.strategy_v2.handlers',
    );
  });

  test('a shadow keeps its key and signs (for the ledger), but cannot publish', () => {
    const template = labTemplate({ owners: { portfolio: 'shadow' } });
    const statements = roleStatements(template, roleIdOf(template, 'lab', 'portfolio'));
    expect(statements.filter((s) => s.Sid === 'SignOwnEvents')).toHaveLength(1);
    expect(statements.flatMap((s) => asList(s.Action))).not.toContain('events:PutEvents');
    expect(statements.filter((s) => s.Sid === 'VerifySignaturesOfStrategy')).toHaveLength(1);
  });
});
