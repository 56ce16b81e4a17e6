import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import {
  ROUTES,
  SIGNERS,
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

/**
 * Who verifies whose signatures, from the registry's specs (what each consumes and produces), not
 * with the code under test (which reads the routes); routing-table.test.ts pins each handler's.
 */
const VERIFIES: Record<string, string[]> = Object.fromEntries(
  ROUTES.specs.map((consumer) => [
    consumer.handler,
    ROUTES.specs.filter((s) => s.produces.some((t) => consumer.consumes.includes(t))).map((s) => s.handler),
  ]),
);
/** Every handler that publishes signs: one key each. */

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
  test('e2e-mix (Python strategy and execution, shadow portfolio): their Python sources and the orchestrator, on every function', () => {
    const template = templateFor({ stage: 'e2e-mix' });
    for (const handler of ROUTES.handlers) {
      expect(envOf(template, 'e2e-mix', handler).UNSIGNED_SOURCES).toBe(
        'alchemiser.execution_v2.handlers,alchemiser.orchestration.event_driven_orchestrator,alchemiser.portfolio_v2.handlers,alchemiser.strategy_v2.handlers',
      );
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

/**
 * The logical ids of the signing keys and aliases every stage has deployed since issue 21, written
 * out by hand: the same for every stage (a logical id hashes the construct path below the stack).
 * A change here would make CloudFormation replace each key on the next deploy, and every event in
 * flight that was signed with the replaced key would be refused.
 */
const GENERATION_ONE_IDS: Record<string, { key: string; alias: string }> = {
  strategy: { key: 'SigningKeysstrategyC61F77C3', alias: 'SigningKeysstrategyAlias8DE3D9EA' },
  portfolio: { key: 'SigningKeysportfolio2519C428', alias: 'SigningKeysportfolioAlias3B2A8947' },
  execution: { key: 'SigningKeysexecution887B255D', alias: 'SigningKeysexecutionAliasFF1FEE29' },
  monitor: { key: 'SigningKeysmonitor88FD4554', alias: 'SigningKeysmonitorAlias1A29F953' },
};

let generationOneTemplate: Template | undefined;
/**
 * A signer's generation-1 ids: as deployed, for the signers above; for a signer added since, as
 * the template makes them (what its first deploy creates).
 */
function generationOneIdsOf(signer: string): { key: string; alias: string } {
  const deployed = GENERATION_ONE_IDS[signer];
  if (deployed) return deployed;
  generationOneTemplate ??= templateFor({ stage: 'dev' });
  return { key: keyIdOf(generationOneTemplate, 'dev', signer), alias: aliasIdOf(generationOneTemplate, 'dev', signer) };
}

interface KeyResource {
  readonly Description: string;
  readonly KeySpec: string;
  readonly KeyPolicy: { readonly Statement: Statement[] };
}

/** The logical ids of `signer`'s HMAC keys (by their description, which names the function). */
function hmacKeyIdsOf(template: Template, signer: string): string[] {
  return Object.entries(resourcesOf<KeyResource>(template, 'AWS::KMS::Key'))
    .filter(([, key]) => key.Properties.KeySpec === 'HMAC_256')
    .filter(([, key]) => key.Properties.Description.startsWith(`Signs the events the Alchemiser ${signer} function publishes`))
    .map(([id]) => id)
    .sort();
}

const aliasIdOf = (template: Template, stage: string, signer: string): string =>
  onlyResource(template, 'AWS::KMS::Alias', { AliasName: `alias/alchemiser-${stage}-${signer}-signing` })[0];

/** What a signer's signatures verify with in VERIFY_KEY_IDS or the authenticity parameter, as `Ref:<logical id>`. */
const refs = (...ids: string[]): string | string[] => (ids.length === 1 ? `Ref:${ids[0]}` : ids.map((id) => `Ref:${id}`));

describe('generation 1 (every stage today): the template deployed stages have', () => {
  test.each(['dev', 'prod'])('stage %s: each key and alias keeps its logical id; one key per signer', (stage) => {
    const template = templateFor({ stage });
    for (const signer of Object.keys(GENERATION_ONE_IDS)) {
      expect(SIGNERS).toContain(signer);
      expect(hmacKeyIdsOf(template, signer)).toEqual([GENERATION_ONE_IDS[signer].key]);
      expect(keyIdOf(template, stage, signer)).toBe(GENERATION_ONE_IDS[signer].key);
      expect(aliasIdOf(template, stage, signer)).toBe(GENERATION_ONE_IDS[signer].alias);
      const key = resourceById<KeyResource>(template, GENERATION_ONE_IDS[signer].key);
      expect(key.Properties.Description).toBe(`Signs the events the Alchemiser ${signer} function publishes (stage ${stage})`);
    }
  });

  test('a stage that sets signingKeyGeneration 1 synthesizes the same template as one that does not', () => {
    expect(labTemplate({ signingKeyGeneration: 1 }).toJSON()).toEqual(labTemplate({}).toJSON());
  });
});

describe.each([
  [false, 'Delete'],
  [true, 'Retain'],
])('generation 2 (retainData %p): the producers sign with a new key; consumers verify with the new and the old one', (retainData, deletion) => {
  let template: Template;
  /** Signer → [its generation-2 key, its generation-1 key] (logical ids). */
  const keys = new Map<string, [string, string]>();
  beforeAll(() => {
    template = labTemplate({ signingKeyGeneration: 2, retainData });
    for (const signer of SIGNERS) {
      const current = keyIdOf(template, 'lab', signer);
      keys.set(signer, [current, generationOneIdsOf(signer).key]);
    }
  });
  const currentOf = (signer: string) => keys.get(signer)![0];
  const previousOf = (signer: string) => keys.get(signer)![1];

  test('two HMAC keys per signer: generation 1 (same logical id, so not replaced) and a new one, both retained as the stage says', () => {
    for (const signer of SIGNERS) {
      expect(hmacKeyIdsOf(template, signer)).toEqual([currentOf(signer), previousOf(signer)].sort());
      expect(currentOf(signer)).not.toBe(previousOf(signer));
      const current = resourceById<KeyResource>(template, currentOf(signer));
      expect(current.Properties.Description).toBe(`Signs the events the Alchemiser ${signer} function publishes (stage lab, key generation 2)`);
      for (const id of [currentOf(signer), previousOf(signer)]) expect(resourceById(template, id).DeletionPolicy).toBe(deletion);
    }
  });

  test('each alias keeps its logical id (CloudFormation retargets it in place) and names the generation-2 key', () => {
    for (const signer of SIGNERS) {
      const [aliasId, alias] = onlyResource<{ TargetKeyId: unknown }>(template, 'AWS::KMS::Alias', {
        AliasName: `alias/alchemiser-lab-${signer}-signing`,
      });
      expect(aliasId).toBe(generationOneIdsOf(signer).alias);
      const target = resourceById<KeyResource>(template, referencedId(alias.Properties.TargetKeyId));
      expect(target.Properties.Description).toMatch(/, key generation 2\)$/);
    }
    // One alias per signer and the notification key's: no second alias of a signer.
    expect(Object.keys(resourcesOf(template, 'AWS::KMS::Alias'))).toHaveLength(SIGNERS.length + 1);
  });

  test.each(SIGNERS)('%s signs with its new key (SIGNING_KEY_ID, kms:GenerateMac on it only)', (signer) => {
    expect(envOf(template, 'lab', signer).SIGNING_KEY_ID).toEqual({ 'Fn::GetAtt': [currentOf(signer), 'Arn'] });
    const signs = roleStatements(template, roleIdOf(template, 'lab', signer)).filter((s) => asList(s.Action).includes('kms:GenerateMac'));
    expect(signs).toEqual([{ Sid: 'SignOwnEvents', Effect: 'Allow', Action: 'kms:GenerateMac', Resource: { 'Fn::GetAtt': [currentOf(signer), 'Arn'] } }]);
  });

  test.each(SIGNERS)('%s: the new key is reserved to its role; the old one denies kms:GenerateMac to every principal, its old producer included', (signer) => {
    const current = resourceById<KeyResource>(template, currentOf(signer)).Properties.KeyPolicy.Statement;
    expect(current.filter((s) => s.Effect === 'Deny')).toEqual([
      {
        Sid: 'OnlyTheProducerRoleSigns',
        Effect: 'Deny',
        Principal: { AWS: '*' },
        Action: 'kms:GenerateMac',
        Resource: '*',
        Condition: { ArnNotEquals: { 'aws:PrincipalArn': { 'Fn::GetAtt': [roleIdOf(template, 'lab', signer), 'Arn'] } } },
      },
    ]);
    const previous = resourceById<KeyResource>(template, previousOf(signer)).Properties.KeyPolicy.Statement;
    expect(previous.filter((s) => s.Effect === 'Deny')).toEqual([
      { Sid: 'RetiredKeySignsNothing', Effect: 'Deny', Principal: { AWS: '*' }, Action: 'kms:GenerateMac', Resource: '*' },
    ]);
    // Still administered by the account (which delegates kms:VerifyMac through IAM), and nothing more.
    const allows = previous.filter((s) => s.Effect === 'Allow');
    expect(allows).toHaveLength(1);
    expect(JSON.stringify(allows[0].Principal)).toContain(':root');
  });

  test('no role may sign with an old key: kms:GenerateMac is granted on the four new keys only', () => {
    const granted = allStatements(template)
      .filter(({ from, statement }) => !from.endsWith('(key policy)') && statement.Effect === 'Allow')
      .filter(({ statement }) => asList(statement.Action).some((a) => a === 'kms:GenerateMac' || a === 'kms:*'))
      .flatMap(({ statement }) => asList(statement.Resource).map(referencedId));
    expect(granted.sort()).toEqual(SIGNERS.map(currentOf).sort());
  });

  test.each(ROUTES.handlers)('%s: VERIFY_KEY_IDS lists [new, old] per producer it consumes; its kms:VerifyMac covers both', (handler) => {
    const verify = JSON.parse(joinedText(envOf(template, 'lab', handler).VERIFY_KEY_IDS)) as Record<string, unknown>;
    expect(verify).toEqual(Object.fromEntries(VERIFIES[handler].map((s) => [s, refs(currentOf(s), previousOf(s))])));
    const grants = roleStatements(template, roleIdOf(template, 'lab', handler)).filter((s) => asList(s.Action).includes('kms:VerifyMac'));
    // One statement per producer, on both keys (IAM reads a statement's resources as a set).
    expect(Object.fromEntries(grants.map((s) => [s.Sid, asList(s.Resource).map(referencedId).sort()]))).toEqual(
      Object.fromEntries(
        VERIFIES[handler].map((s) => [`VerifySignaturesOf${s.charAt(0).toUpperCase()}${s.slice(1)}`, [currentOf(s), previousOf(s)].sort()]),
      ),
    );
  });

  test('the authenticity parameter lists [new, old] for every signer, and the operator verifies with both', () => {
    expect(authenticityOf(template, 'lab').verify_key_ids).toEqual(
      Object.fromEntries([...SIGNERS].sort().map((s) => [s, refs(currentOf(s), previousOf(s))])),
    );
    const operatorId = onlyResource(template, 'AWS::IAM::Role', { RoleName: 'alchemiser-operator-lab' })[0];
    const verified = roleStatements(template, operatorId)
      .filter((s) => asList(s.Action).includes('kms:VerifyMac'))
      .flatMap((s) => asList(s.Resource).map(referencedId));
    expect(verified.sort()).toEqual(SIGNERS.flatMap((s) => [currentOf(s), previousOf(s)]).sort());
  });
});

describe('generation 3: generation 1 leaves the stack', () => {
  let second: Template;
  let third: Template;
  beforeAll(() => {
    second = labTemplate({ signingKeyGeneration: 2 });
    third = labTemplate({ signingKeyGeneration: 3 });
  });

  test('each signer has generation 3 (signing) and generation 2 (same logical id as when it signed, now retired); generation 1 is gone', () => {
    for (const signer of SIGNERS) {
      const generationTwo = keyIdOf(second, 'lab', signer);
      const generationThree = keyIdOf(third, 'lab', signer);
      expect(hmacKeyIdsOf(third, signer)).toEqual([generationTwo, generationThree].sort());
      expect(hmacKeyIdsOf(third, signer)).not.toContain(generationOneIdsOf(signer).key);
      expect(aliasIdOf(third, 'lab', signer)).toBe(generationOneIdsOf(signer).alias);
      expect(envOf(third, 'lab', signer).SIGNING_KEY_ID).toEqual({ 'Fn::GetAtt': [generationThree, 'Arn'] });
      const retired = resourceById<KeyResource>(third, generationTwo).Properties.KeyPolicy.Statement;
      expect(retired.filter((s) => s.Effect === 'Deny').map((s) => s.Sid)).toEqual(['RetiredKeySignsNothing']);
    }
    expect(authenticityOf(third, 'lab').verify_key_ids).toEqual(
      Object.fromEntries([...SIGNERS].sort().map((s) => [s, refs(keyIdOf(third, 'lab', s), keyIdOf(second, 'lab', s))])),
    );
  });

  test('generation 4 keeps generation 3 as it was and drops generation 2', () => {
    const fourth = labTemplate({ signingKeyGeneration: 4 });
    for (const signer of SIGNERS) {
      const generationThree = keyIdOf(third, 'lab', signer);
      expect(hmacKeyIdsOf(fourth, signer)).toContain(generationThree);
      expect(hmacKeyIdsOf(fourth, signer)).not.toContain(keyIdOf(second, 'lab', signer));
      expect(hmacKeyIdsOf(fourth, signer)).toHaveLength(2);
    }
  });
});

describe('a bad generation fails the synth', () => {
  test.each([0, -1, 1.5, '2'])('signingKeyGeneration %p: refused, naming the stage and the value', (bad) => {
    expect(() => labTemplate({ signingKeyGeneration: bad })).toThrow(
      new RegExp(`stages\\.lab\\.signingKeyGeneration: must be a whole number of at least 1 .*; got ${JSON.stringify(bad).replace('.', '\\.')}$`),
    );
  });
});
