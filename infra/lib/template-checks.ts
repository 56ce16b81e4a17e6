import { CfnResource, Stack } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/**
 * One finding of an external template checker (checkov, cfn-lint) that a resource accepts, and
 * the reason a reviewer would accept. cdk-nag findings are acknowledged with
 * `Validations.of(construct).acknowledge(...)` instead; these two tools read the template, so
 * their suppressions have to live in the resource's CloudFormation Metadata.
 */
export interface CheckerSuppression {
  /** The checker's rule id, e.g. `CKV_AWS_117` or `W3005`. */
  readonly id: string;
  readonly reason: string;
}

/**
 * Where cfn-lint's ignored rules get their reasons: cfn-lint's own metadata
 * (`cfn-lint.config.ignore_checks`) has room for ids only. scripts/check-templates fails on an
 * ignored id without a reason here.
 */
export const CFN_LINT_REASONS_METADATA = 'alchemiser:cfn-lint-reasons';

/**
 * Adds checkov skips (`Metadata.checkov.skip: [{id, comment}]`, which `checkov -f` honours) to the
 * CloudFormation resource of `scope` (the resource itself, or a construct's default child).
 * Calling it twice on one resource adds to the list.
 */
export function skipCheckov(scope: IConstruct, ...suppressions: CheckerSuppression[]): void {
  const resource = cfnResourceOf(scope);
  const current = (resource.getMetadata('checkov') as { skip?: { id: string; comment: string }[] } | undefined)?.skip ?? [];
  resource.addMetadata('checkov', { skip: [...current, ...suppressions.map(({ id, reason }) => ({ id, comment: reason }))] });
}

/**
 * Adds cfn-lint ignores (`Metadata.cfn-lint.config.ignore_checks`) to the CloudFormation resource
 * of `scope`, each with its reason under {@link CFN_LINT_REASONS_METADATA}.
 */
export function ignoreCfnLint(scope: IConstruct, ...suppressions: CheckerSuppression[]): void {
  const resource = cfnResourceOf(scope);
  const current = (resource.getMetadata('cfn-lint') as { config?: { ignore_checks?: string[] } } | undefined)?.config?.ignore_checks ?? [];
  resource.addMetadata('cfn-lint', { config: { ignore_checks: [...current, ...suppressions.map((s) => s.id)] } });
  const reasons = (resource.getMetadata(CFN_LINT_REASONS_METADATA) as Record<string, string> | undefined) ?? {};
  resource.addMetadata(CFN_LINT_REASONS_METADATA, { ...reasons, ...Object.fromEntries(suppressions.map((s) => [s.id, s.reason])) });
}

function cfnResourceOf(scope: IConstruct): CfnResource {
  const resource = CfnResource.isCfnResource(scope) ? scope : scope.node.defaultChild;
  if (resource === undefined || !CfnResource.isCfnResource(resource)) {
    throw new Error(`${scope.node.path} is not a CloudFormation resource and has no default child that is one`);
  }
  return resource;
}

/**
 * How cdk-nag writes a resource in a granular finding id (`AwsSolutions-IAM5[Resource::<this>]`):
 * the value resolved in its stack, each `Ref` as `<Name>` and each `Fn::GetAtt` as
 * `<LogicalId.Attribute>`. Whether region and partition are tokens depends on the stack's
 * environment (the CLI knows the region, the tests do not), so an acknowledgement of a wildcard
 * ARN is built with this instead of written out.
 */
export function nagResourceText(scope: IConstruct, value: string): string {
  const resolved: unknown = Stack.of(scope).resolve(value);
  const part = (p: unknown): string => {
    if (typeof p === 'string') return p;
    const ref = (p as { Ref?: string }).Ref;
    if (ref !== undefined) return `<${ref}>`;
    const getAtt = (p as { 'Fn::GetAtt'?: [string, string] })['Fn::GetAtt'];
    if (getAtt !== undefined) return `<${getAtt[0]}.${getAtt[1]}>`;
    throw new Error(`nagResourceText: cannot render ${JSON.stringify(p)}`);
  };
  const join = (resolved as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
  return join === undefined ? part(resolved) : join[1].map(part).join(join[0]);
}
