import type { Template } from 'aws-cdk-lib/assertions';
import {
  ROUTES,
  RUST_SOURCES,
  SIGNERS,
  asList,
  joinedText,
  onlyResource,
  referencedId,
  resourceById,
  resourcesOf,
  templateFor,
  type PolicyProperties,
  type RoleProperties,
  type Statement,
} from './helpers';

const ALL_TYPES = ROUTES.routes.map((r) => r.event_type);
const capitalized = (name: string): string => name.charAt(0).toUpperCase() + name.slice(1);

/** A resource written as text: `Ref:<id>` for references inside an ARN, `<id>` for a plain reference. */
const resourceText = (resource: unknown): string => {
  const join = (resource as { 'Fn::Join'?: unknown })['Fn::Join'];
  return join === undefined ? referencedId(resource) : joinedText(resource);
};

describe.each([
  ['prod', RUST_SOURCES],
  // A stage with Python owners: the operator may republish the Python sources too.
  [
    'e2e-mix',
    [
      ...RUST_SOURCES,
      'alchemiser.execution_v2.handlers',
      'alchemiser.orchestration.event_driven_orchestrator',
      'alchemiser.portfolio_v2.handlers',
      'alchemiser.strategy_v2.handlers',
    ],
  ],
])('operator role of stage %s', (stage, sources) => {
  let template: Template;
  let roleId: string;
  let statements: Statement[];
  beforeAll(() => {
    template = templateFor({ stage });
    roleId = onlyResource(template, 'AWS::IAM::Role', { RoleName: `alchemiser-operator-${stage}` })[0];
    statements = Object.values(resourcesOf<PolicyProperties>(template, 'AWS::IAM::Policy'))
      .filter((p) => p.Properties.Roles.some((r) => referencedId(r) === roleId))
      .flatMap((p) => asList(p.Properties.PolicyDocument.Statement));
  });
  const id = (type: string, props: Record<string, unknown>) => onlyResource(template, type, props)[0];
  const bySid = (sid: string) => {
    const found = statements.filter((s) => s.Sid === sid);
    expect(found).toHaveLength(1);
    return found[0];
  };

  test('named alchemiser-operator-<stage>; only this account (its root) may assume it', () => {
    const role = resourceById<RoleProperties>(template, roleId);
    expect(role.Properties.AssumeRolePolicyDocument.Statement).toEqual([
      {
        Action: 'sts:AssumeRole',
        Effect: 'Allow',
        Principal: { AWS: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::', { Ref: 'AWS::AccountId' }, ':root']] } },
      },
    ]);
    expect(role.Properties.ManagedPolicyArns).toBeUndefined();
  });

  test('exactly these grants, each an Allow', () => {
    expect(statements.map((s) => s.Sid).sort()).toEqual(
      [
        'RepublishWorkflowEvents',
        'VerifyEventBusExists',
        'ReplayFromArchive',
        'FollowOwnReplays',
        'RedriveDeadLetters',
        'DrainOutbox',
        'SetAsideRefusedOutboxRecords',
        'ReadWorkflowLedger',
        'PutBrokerKeys',
        'HaltAndResumeTrading',
        ...SIGNERS.map((signer) => `VerifySignaturesOf${capitalized(signer)}`),
        'ReadStageParameters',
      ].sort(),
    );
    for (const s of statements) expect(s.Effect).toBe('Allow');
    // It can never sign, read the broker keys, or send into the outbox it drains.
    const actions = statements.flatMap((s) => asList(s.Action));
    for (const never of ['kms:GenerateMac', 'secretsmanager:GetSecretValue']) expect(actions).not.toContain(never);
    const sends = statements.filter((s) => asList(s.Action).includes('sqs:SendMessage')).map((s) => s.Sid);
    expect(sends).toEqual(['SetAsideRefusedOutboxRecords']);
  });

  test('sets refused outbox records aside in the dead-letter queue, and sends nowhere else', () => {
    const deadLetters = id('AWS::SQS::Queue', { QueueName: `alchemiser-event-dlq-${stage}` });
    expect(bySid('SetAsideRefusedOutboxRecords')).toEqual({
      Sid: 'SetAsideRefusedOutboxRecords',
      Effect: 'Allow',
      Action: 'sqs:SendMessage',
      Resource: { 'Fn::GetAtt': [deadLetters, 'Arn'] },
    });
  });

  test('republishes any source the stage accepts and any type, on the bus only', () => {
    const bus = id('AWS::Events::EventBus', { Name: `alchemiser-trading-events-${stage}` });
    expect(bySid('RepublishWorkflowEvents')).toEqual({
      Sid: 'RepublishWorkflowEvents',
      Effect: 'Allow',
      Action: 'events:PutEvents',
      Resource: { 'Fn::GetAtt': [bus, 'Arn'] },
      Condition: {
        'ForAllValues:StringEquals': { 'events:source': sources, 'events:detail-type': ALL_TYPES },
        Null: { 'events:source': 'false', 'events:detail-type': 'false' },
      },
    });
  });

  test('replays from the stage archive; follows only the replays named for the stage', () => {
    const archive = id('AWS::Events::Archive', { ArchiveName: `alchemiser-event-archive-${stage}` });
    expect(bySid('ReplayFromArchive').Resource).toEqual({ 'Fn::GetAtt': [archive, 'Arn'] });
    expect([...asList(bySid('ReplayFromArchive').Action)].sort()).toEqual(['events:DescribeArchive', 'events:StartReplay']);
    expect(joinedText(bySid('FollowOwnReplays').Resource)).toBe(
      `arn:Ref:AWS::Partition:events:Ref:AWS::Region:Ref:AWS::AccountId:replay/alchemiser-${stage}-*`,
    );
  });

  test.each([
    ['RedriveDeadLetters', 'dlq'],
    ['DrainOutbox', 'outbox'],
  ])('%s: receive, change visibility, delete, attributes, URL on the %s', (sid, kind) => {
    const queue = id('AWS::SQS::Queue', { QueueName: `alchemiser-event-${kind}-${stage}` });
    expect(bySid(sid).Resource).toEqual({ 'Fn::GetAtt': [queue, 'Arn'] });
    expect([...asList(bySid(sid).Action)].sort()).toEqual([
      'sqs:ChangeMessageVisibility',
      'sqs:DeleteMessage',
      'sqs:GetQueueAttributes',
      'sqs:GetQueueUrl',
      'sqs:ReceiveMessage',
    ]);
  });

  test('reads the ledger and both its indexes, never writes', () => {
    const ledger = id('AWS::DynamoDB::Table', { TableName: `alchemiser-workflow-ledger-${stage}` });
    const grant = bySid('ReadWorkflowLedger');
    expect([...asList(grant.Action)].sort()).toEqual(['dynamodb:GetItem', 'dynamodb:Query']);
    expect(asList(grant.Resource).map(resourceText)).toEqual([
      ledger,
      `Ref:${ledger}/index/by_start`,
      `Ref:${ledger}/index/open_by_start`,
    ]);
  });

  test('reads every parameter the stack publishes, and nothing else in SSM but the halt switch', () => {
    const published = Object.entries(resourcesOf<{ Name: string }>(template, 'AWS::SSM::Parameter'))
      .filter(([, p]) => !p.Properties.Name.endsWith('/trading-halt'))
      .map(([logicalId]) => `arn:Ref:AWS::Partition:ssm:Ref:AWS::Region:Ref:AWS::AccountId:parameterRef:${logicalId}`);
    expect(asList(bySid('ReadStageParameters').Resource).map(resourceText).sort()).toEqual(published.sort());
    expect(bySid('ReadStageParameters').Action).toBe('ssm:GetParameter');
  });
});
