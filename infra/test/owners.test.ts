import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import {
  ROUTES,
  asList,
  buildStack,
  onlyResource,
  referencedId,
  renderInputTemplate,
  resourcesOf,
  type PolicyProperties,
  type Statement,
} from './helpers';

/** A stack of stage `lab` with these settings (over the checked-in defaults). */
function labTemplate(settings: Record<string, unknown>, context: Record<string, unknown> = {}): Template {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'alchemiser-owners-')), 'stages.json');
  const checkedIn = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'config', 'stages.json'), 'utf8')) as { defaults: unknown };
  fs.writeFileSync(file, JSON.stringify({ defaults: checkedIn.defaults, stages: { lab: { rulesEnabled: true, ...settings } } }));
  return Template.fromStack(buildStack({ stage: 'lab', ...context }, { stagesFile: file }));
}

interface FunctionProperties {
  readonly Role: unknown;
  readonly Environment: { readonly Variables: Record<string, unknown> };
}

const functionOf = (template: Template, handler: string) =>
  onlyResource<FunctionProperties>(template, 'AWS::Lambda::Function', { FunctionName: `alchemiser-${handler}-lab` })[1];
const envOf = (template: Template, handler: string) => functionOf(template, handler).Properties.Environment.Variables;
const ruleNames = (template: Template) =>
  Object.values(resourcesOf<{ Name: string }>(template, 'AWS::Events::Rule')).map((r) => r.Properties.Name);
const scheduleNames = (template: Template) =>
  Object.values(resourcesOf<{ Name: string }>(template, 'AWS::Scheduler::Schedule')).map((r) => r.Properties.Name);

/** Every statement of the role of `handler`. */
function statementsOf(template: Template, handler: string): Statement[] {
  const roleId = referencedId(functionOf(template, handler).Properties.Role);
  return Object.values(resourcesOf<PolicyProperties>(template, 'AWS::IAM::Policy'))
    .filter((p) => p.Properties.Roles.some((r) => referencedId(r) === roleId))
    .flatMap((p) => asList(p.Properties.PolicyDocument.Statement));
}
const actionsOf = (template: Template, handler: string) => statementsOf(template, handler).flatMap((s) => asList(s.Action));
const sidsOf = (template: Template, handler: string) => statementsOf(template, handler).map((s) => s.Sid);

describe('owners: who does a handler’s job on the stage', () => {
  test('rust (the default): every rule and both schedules, every function live', () => {
    const template = labTemplate({});
    expect(ruleNames(template).sort()).toEqual(
      [...ROUTES.rules.map((r) => `${r.name}-lab`), 'alchemiser-notify-workflow-failed-lab'].sort(),
    );
    expect(scheduleNames(template).sort()).toEqual(['alchemiser-strategy-lab', 'alchemiser-workflow-sweep-lab']);
    for (const handler of ROUTES.handlers) expect(envOf(template, handler).ALCHEMISER_MODE).toBe('live');
  });

  test.each(['portfolio', 'execution'])('python %s: the function stays deployed and live, but its rule is not created', (handler) => {
    const template = labTemplate({ owners: { [handler]: 'python' } });
    expect(ruleNames(template)).not.toContain(`alchemiser-${handler}-events-lab`);
    expect(ruleNames(template)).toContain('alchemiser-monitor-events-lab');
    expect(envOf(template, handler).ALCHEMISER_MODE).toBe('live');
    // Nothing may invoke it: no rule permission.
    const fnId = onlyResource(template, 'AWS::Lambda::Function', { FunctionName: `alchemiser-${handler}-lab` })[0];
    const invokers = Object.values(resourcesOf<{ FunctionName: unknown }>(template, 'AWS::Lambda::Permission')).filter(
      (p) => referencedId(p.Properties.FunctionName) === fnId,
    );
    expect(invokers).toEqual([]);
  });

  test('python strategy: the function stays deployed, but no schedule starts it', () => {
    const template = labTemplate({ owners: { strategy: 'python' } });
    expect(scheduleNames(template)).toEqual(['alchemiser-workflow-sweep-lab']);
    expect(envOf(template, 'strategy').ALCHEMISER_MODE).toBe('live');
  });

  test('shadow portfolio: rule as for rust, ALCHEMISER_MODE=shadow, the ledger instead of PutEvents', () => {
    const template = labTemplate({ owners: { portfolio: 'shadow' } });
    const ledger = onlyResource(template, 'AWS::DynamoDB::Table', { TableName: 'alchemiser-workflow-ledger-lab' })[0];
    template.hasResourceProperties('AWS::Events::Rule', { Name: 'alchemiser-portfolio-events-lab', State: 'ENABLED' });
    const env = envOf(template, 'portfolio');
    expect(env).toMatchObject({ ALCHEMISER_MODE: 'shadow', LEDGER_TABLE_NAME: { Ref: ledger }, LEDGER_RETENTION_DAYS: '90' });
    // A shadow can never publish live: no events:PutEvents at all, and no outbox.
    expect(actionsOf(template, 'portfolio')).not.toContain('events:PutEvents');
    expect(sidsOf(template, 'portfolio')).not.toContain('ParkUndeliveredEventsInOutbox');
    const record = statementsOf(template, 'portfolio').find((s) => s.Sid === 'RecordShadowOutcomesInLedger');
    expect(record).toEqual({
      Sid: 'RecordShadowOutcomesInLedger',
      Effect: 'Allow',
      Action: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem'],
      Resource: { 'Fn::GetAtt': [ledger, 'Arn'] },
    });
    // It still reads the account to plan against it.
    expect(sidsOf(template, 'portfolio')).toContain('ReadBrokerSecret');
    expect(env.BROKER_SECRET_NAME).toBe('alchemiser/lab/broker');
    // The live functions are untouched.
    expect(actionsOf(template, 'execution')).toContain('events:PutEvents');
    expect(envOf(template, 'execution').ALCHEMISER_MODE).toBe('live');
  });

  test('shadow execution: never publishes; reads the account for its dry run; the sweep knows it is a shadow', () => {
    const template = labTemplate({ owners: { execution: 'shadow' } });
    template.hasResourceProperties('AWS::Events::Rule', { Name: 'alchemiser-execution-events-lab', State: 'ENABLED' });
    const env = envOf(template, 'execution');
    expect(env.ALCHEMISER_MODE).toBe('shadow');
    // Holdings and prices for the dry run; orders are refused in code (a read-only broker).
    expect(env.BROKER_SECRET_NAME).toBeDefined();
    expect(env.WORKFLOW_DEADLINE_SECONDS).toBe('1800');
    expect(actionsOf(template, 'execution')).not.toContain('events:PutEvents');
    expect(envOf(template, 'monitor').SHADOW_FUNCTIONS).toBe('execution');
    expect(sidsOf(template, 'execution')).toContain('RecordShadowOutcomesInLedger');
    // The shadow's idempotency keys (`execution#<id>#shadow`) are still its own.
    expect(JSON.stringify(statementsOf(template, 'execution').find((s) => s.Sid === 'IdempotencyStoreOwnKeys'))).toContain('"execution#*"');
  });

  test('the stage-wide rulesEnabled still rules: a shadow on a stage with rules off receives nothing either', () => {
    const template = labTemplate({ rulesEnabled: false, owners: { portfolio: 'shadow' } });
    template.hasResourceProperties('AWS::Events::Rule', { Name: 'alchemiser-portfolio-events-lab', State: 'DISABLED' });
    template.hasResourceProperties('AWS::Scheduler::Schedule', { Name: 'alchemiser-workflow-sweep-lab', State: 'DISABLED' });
  });
});

describe('workflow settings', () => {
  test('workflowDeadlineMinutes and ledgerRetentionDays reach the monitor and execution', () => {
    const template = labTemplate({ workflowDeadlineMinutes: 45, ledgerRetentionDays: 30 });
    expect(envOf(template, 'monitor')).toMatchObject({ WORKFLOW_DEADLINE_SECONDS: '2700', LEDGER_RETENTION_DAYS: '30' });
    expect(envOf(template, 'execution')).toMatchObject({ WORKFLOW_DEADLINE_SECONDS: '2700' });
    expect(envOf(template, 'execution').LEDGER_RETENTION_DAYS).toBeUndefined();
    // Only the handlers whose spec needs the deadline get it.
    for (const spec of ROUTES.specs.filter((s) => !s.needs.includes('workflow_deadline'))) {
      expect(envOf(template, spec.handler).WORKFLOW_DEADLINE_SECONDS).toBeUndefined();
    }
  });

  test('notificationEmail subscribes to the workflow topic; notifyOnCompleted adds a WorkflowCompleted rule', () => {
    const template = labTemplate({ notificationEmail: 'desk@example.com', notifyOnCompleted: true });
    const topic = onlyResource(template, 'AWS::SNS::Topic', { TopicName: 'alchemiser-workflow-notifications-lab' })[0];
    template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'desk@example.com', TopicArn: { Ref: topic } });
    const [, rule] = onlyResource<{
      EventPattern: unknown;
      Targets: { InputTransformer: { InputTemplate: string; InputPathsMap: Record<string, string> } }[];
    }>(template, 'AWS::Events::Rule', { Name: 'alchemiser-notify-workflow-completed-lab' });
    // No Python owner on this stage: the Python execution's source is left out.
    expect(rule.Properties.EventPattern).toEqual({ source: ['alchemiser.execution'], 'detail-type': ['WorkflowCompleted'] });
    const { InputTemplate, InputPathsMap } = rule.Properties.Targets[0].InputTransformer;
    const event = { source: 'alchemiser.execution', detail: { correlation_id: 'wf-1', workflow_duration_ms: 5120 } };
    expect(JSON.parse(renderInputTemplate(InputTemplate, InputPathsMap, event))).toEqual({
      notice: 'Alchemiser stage lab: a workflow completed.',
      event_values_untrusted: { source: 'alchemiser.execution', correlation_id: 'wf-1', workflow_duration_ms: 5120 },
      to_inspect: expect.stringContaining('alchemiser workflows show CORRELATION_ID --stage lab') as unknown,
    });
    // The topic policy names both rules, each by its ARN.
    const [, policy] = onlyResource<PolicyProperties>(template, 'AWS::SNS::TopicPolicy', { Topics: [{ Ref: topic }] });
    const sids = asList(policy.Properties.PolicyDocument.Statement).filter((s) => s.Effect === 'Allow').map((s) => s.Sid);
    expect(sids.sort()).toEqual(['PublishWorkflowCompletedNotifications', 'PublishWorkflowFailedNotifications']);
  });
});
