import * as iam from 'aws-cdk-lib/aws-iam';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';

/** Properties of {@link TradingHalt}. */
export interface TradingHaltProps {
  readonly stage: string;
}

/** What the parameter holds when the stack creates it: trading runs. */
export const TRADING_NOT_HALTED = JSON.stringify({ halted: false });

/** The name of a stage's halt parameter. */
export function tradingHaltParameterName(stage: string): string {
  return `/alchemiser/${stage}/trading-halt`;
}

/**
 * The stage's kill switch (issue 23): the SSM String parameter `/alchemiser/<stage>/trading-halt`,
 * `{"halted": false}` or `{"halted": true, "reason": "...", "by": "<caller ARN>", "at": "<RFC3339>"}`.
 * Execution reads it before a plan's checks and before every order, with a 5-second cache
 * (`TRADING_HALT_PARAMETER`); the strategy role may read it too, though the strategy still starts
 * workflows while halted so that each plan fails visibly at execution naming the halt; an operator flips it in seconds with `alchemiser halt` / `resume`
 * (the operator role's PutParameter), without a deploy. SSM keeps each version, which is the
 * audit of who halted when and why (`GetParameterHistory`).
 *
 * CloudFormation writes the value when it creates the parameter, and again whenever a property of
 * this resource changes in the template: a deploy that changes one resumes a halted stage. The
 * properties are therefore fixed (a test pins them); a deploy that leaves them alone keeps
 * whatever an operator set.
 */
export class TradingHalt extends Construct {
  public readonly parameter: ssm.StringParameter;
  public readonly parameterName: string;

  constructor(scope: Construct, id: string, props: TradingHaltProps) {
    super(scope, id);
    this.parameterName = tradingHaltParameterName(props.stage);
    this.parameter = new ssm.StringParameter(this, 'Parameter', {
      parameterName: this.parameterName,
      stringValue: TRADING_NOT_HALTED,
      description: `Alchemiser trading halt switch (${props.stage}): set by alchemiser halt / resume, read before every order`,
      tier: ssm.ParameterTier.STANDARD,
    });
  }

  /** For the functions that must stop when halted (execution, strategy): read the switch. */
  public grantReadHalt(role: iam.IRole): void {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ sid: 'ReadTradingHalt', actions: ['ssm:GetParameter'], resources: [this.parameter.parameterArn] }),
    );
  }

  /** For the operator: halt and resume (PutParameter), read the switch and its history (the audit). */
  public grantHaltAndResume(role: iam.IRole): void {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'HaltAndResumeTrading',
        actions: ['ssm:PutParameter', 'ssm:GetParameter', 'ssm:GetParameterHistory'],
        resources: [this.parameter.parameterArn],
      }),
    );
  }
}
