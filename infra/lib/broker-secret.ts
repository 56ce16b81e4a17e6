import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { skipCheckov } from './template-checks';

/** Properties of {@link BrokerSecret}. */
export interface BrokerSecretProps {
  readonly stage: string;
  /** Keep the secret when the stack is deleted. */
  readonly retain: boolean;
}

/**
 * The broker credentials `alchemiser/<stage>/broker`. The stack creates it with a generated
 * placeholder value so that no key ever passes through the template; an operator puts the real
 * keys in it (`aws secretsmanager put-secret-value`, as the operator role). Only the functions
 * that use the broker (portfolio and execution) may read it: IAM grants them, and the resource
 * policy ({@link restrictReadersTo}) denies everyone else.
 */
export class BrokerSecret extends Construct {
  public readonly secret: secretsmanager.Secret;
  /** `alchemiser/<stage>/broker`: what the functions get as BROKER_SECRET_NAME. */
  public readonly secretName: string;

  constructor(scope: Construct, id: string, props: BrokerSecretProps) {
    super(scope, id);
    this.secretName = `alchemiser/${props.stage}/broker`;
    this.secret = new secretsmanager.Secret(this, 'Secret', {
      secretName: this.secretName,
      description: `Alchemiser broker API credentials (${props.stage}); placeholder until an operator sets the keys`,
      generateSecretString: {
        secretStringTemplate: JSON.stringify({ status: 'placeholder: put the broker API keys in this secret' }),
        generateStringKey: 'placeholder',
        excludePunctuation: true,
      },
      removalPolicy: props.retain ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
    Validations.of(this.secret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'The secret holds API keys issued by the broker (Alpaca); they can only be rotated in the ' +
        "broker's dashboard, so a Secrets Manager rotation Lambda has nothing to call. Rotated manually.",
    });
    skipCheckov(this.secret, {
      id: 'CKV_AWS_149',
      reason:
        'Encrypted with the Secrets Manager key of the account (aws/secretsmanager). A customer key would ' +
        'add a key policy but no isolation: the secret\'s resource policy denies GetSecretValue to every ' +
        'principal but the roles of the functions that use the broker (portfolio, execution), whatever ' +
        'IAM grants elsewhere in the account.',
    });
  }

  /**
   * The secret's resource policy: denies `secretsmanager:GetSecretValue` to every principal whose
   * `aws:PrincipalArn` is not one of `readers` (the roles of the functions that use the broker),
   * so an administrator's or a PowerUser's `secretsmanager:*` on `*` no longer reads the broker's
   * keys. Called once.
   */
  public restrictReadersTo(readers: readonly iam.IRole[]): void {
    if (readers.length === 0) throw new Error('The broker secret needs at least one reader.');
    this.secret.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'OnlyBrokerUsersReadTheKeys',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['secretsmanager:GetSecretValue'],
        resources: ['*'],
        conditions: { ArnNotEquals: { 'aws:PrincipalArn': readers.map((role) => role.roleArn) } },
      }),
    );
  }

  /**
   * For the operator: put new broker keys in the secret (`put-secret-value`; the broker's keys are
   * rotated in its dashboard). Writing only: the resource policy keeps it from reading them.
   */
  public grantPutBrokerKeys(role: iam.IRole): void {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'PutBrokerKeys',
        actions: ['secretsmanager:PutSecretValue', 'secretsmanager:DescribeSecret'],
        resources: [this.secret.secretArn],
      }),
    );
  }

  /** Grants GetSecretValue and DescribeSecret on this secret's ARN only. */
  public grantReadBrokerKeys(role: iam.IRole): void {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ReadBrokerSecret',
        actions: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
        resources: [this.secret.secretArn],
      }),
    );
  }
}
