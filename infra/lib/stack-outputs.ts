import { CfnOutput } from 'aws-cdk-lib';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';

/** One value published by {@link StackOutputs}. */
export interface PublishedValue {
  /** Output id, e.g. `EventBusName`. */
  readonly outputId: string;
  /** Last part of the SSM parameter name, e.g. `bus-name` → `/alchemiser/<stage>/bus-name`. */
  readonly parameter: string;
  readonly value: string;
  readonly description: string;
}

/** Properties of {@link StackOutputs}. */
export interface StackOutputsProps {
  readonly stage: string;
  readonly values: readonly PublishedValue[];
}

/**
 * Publishes what clients need to find the stage's resources, twice: as stack outputs (for people
 * and scripts reading the deploy) and as SSM parameters `/alchemiser/<stage>/<name>` (for tools
 * such as the `alchemiser` CLI, which can look them up by stage without CloudFormation).
 */
export class StackOutputs extends Construct {
  /** The SSM parameters, in the order of the values (the operator role may read them). */
  public readonly parameters: ssm.StringParameter[] = [];

  constructor(scope: Construct, id: string, props: StackOutputsProps) {
    super(scope, id);
    for (const { outputId, parameter, value, description } of props.values) {
      // Plain output names (EventBusName, not OutputsEventBusName1A2B3C) for scripts reading them.
      new CfnOutput(this, outputId, { value, description }).overrideLogicalId(outputId);
      this.parameters.push(
        new ssm.StringParameter(this, `${outputId}Parameter`, {
          parameterName: `/alchemiser/${props.stage}/${parameter}`,
          stringValue: value,
          description,
        }),
      );
    }
  }
}
