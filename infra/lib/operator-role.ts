import { Stack, Validations } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { nagResourceText } from './template-checks';

/** Properties of {@link OperatorRole}. */
export interface OperatorRoleProps {
  readonly stage: string;
}

/** What the operator may republish on the bus: every source the stage accepts, every type of the routing table. */
export interface RepublishGrant {
  readonly bus: events.IEventBus;
  readonly sources: readonly string[];
  readonly detailTypes: readonly string[];
}

/** The physical name of a stage's operator role. */
export function operatorRoleName(stage: string): string {
  return `alchemiser-operator-${stage}`;
}

/**
 * The role `alchemiser-operator-<stage>` a person assumes to run the `alchemiser` operations
 * against the stage: redrive dead letters, drain the outbox, replay the archive, publish, halt and
 * resume trading, read the workflow ledger, put new broker keys in the secret. Its trust policy
 * names this account's root, so any principal of the account whose own IAM policy allows
 * `sts:AssumeRole` on it (administrators) can assume it; nothing outside the account can.
 *
 * It is the one principal besides each function's own role that may publish with a Rust
 * function's source (the bus policy reserves every source to its role and this one): a redriven
 * or drained event is republished under its recorded source. That is safe because consumers
 * verify each event's signature, not who put it on the bus; the operations verify before they
 * republish too (`kms:VerifyMac`, granted by the signing keys). It cannot sign.
 *
 * Grants on a resource are added by the construct that owns it (queues, ledger, secret, halt
 * parameter, signing keys); the bus and archive grants are here.
 */
export class OperatorRole extends Construct {
  public readonly role: iam.Role;

  constructor(scope: Construct, id: string, private readonly props: OperatorRoleProps) {
    super(scope, id);
    this.role = new iam.Role(this, 'Role', {
      roleName: operatorRoleName(props.stage),
      description: `Assumed by operators of the Alchemiser stage ${props.stage}: redrive, drain, replay, publish, halt, ledger`,
      assumedBy: new iam.AccountRootPrincipal(),
    });
  }

  /**
   * PutEvents on the bus with any source the stage accepts and any type of the routing table
   * (`ForAllValues` with the `Null` guard, as for the functions), and DescribeEventBus for the
   * publishers' start-up check.
   */
  public grantRepublish(grant: RepublishGrant): void {
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'RepublishWorkflowEvents',
        actions: ['events:PutEvents'],
        resources: [grant.bus.eventBusArn],
        conditions: {
          'ForAllValues:StringEquals': { 'events:source': [...grant.sources], 'events:detail-type': [...grant.detailTypes] },
          Null: { 'events:source': 'false', 'events:detail-type': 'false' },
        },
      }),
    );
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({ sid: 'VerifyEventBusExists', actions: ['events:DescribeEventBus'], resources: [grant.bus.eventBusArn] }),
    );
  }

  /**
   * `alchemiser replay`: start a replay from the stage's archive, and follow or cancel the replays
   * named `alchemiser-<stage>-*` (the CLI's default name carries the stage; replays of other stages
   * are not this role's).
   */
  public grantReplay(archive: events.Archive): void {
    const { stage } = this.props;
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ReplayFromArchive',
        actions: ['events:DescribeArchive', 'events:StartReplay'],
        resources: [archive.archiveArn],
      }),
    );
    const replays = Stack.of(this).formatArn({ service: 'events', resource: 'replay', resourceName: `alchemiser-${stage}-*` });
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'FollowOwnReplays',
        actions: ['events:CancelReplay', 'events:DescribeReplay'],
        resources: [replays],
      }),
    );
    const policy = this.role.node.tryFindChild('DefaultPolicy');
    if (policy !== undefined) {
      Validations.of(policy).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${nagResourceText(this, replays)}]`,
        reason:
          'Replays are created by the operator at run time under names the stack cannot know; the ' +
          `pattern allows only those named alchemiser-${stage}-* (the CLI's default names carry the stage).`,
      });
    }
  }

  /** GetParameter on the stage's published parameters (`/alchemiser/<stage>/*`, see StackOutputs), which the CLI reads. */
  public grantReadStageParameters(parameters: readonly ssm.IParameter[]): void {
    if (parameters.length === 0) return;
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ReadStageParameters',
        actions: ['ssm:GetParameter'],
        resources: parameters.map((p) => p.parameterArn),
      }),
    );
  }
}
