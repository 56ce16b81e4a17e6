import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { skipCheckov } from './template-checks';

/** Properties of {@link SigningKeys}. */
export interface SigningKeysProps {
  readonly stage: string;
  /** The Rust handlers that publish events (routing-table.ts `rustProducers`): one key each. */
  readonly signers: readonly string[];
  /** Keep the keys when the stack is deleted: events signed with them stay verifiable. */
  readonly retain: boolean;
}

/** The KMS alias of a signer's key: `alias/alchemiser-<stage>-<handler>-signing`. */
export function signingKeyAlias(stage: string, signer: string): string {
  return `alias/alchemiser-${stage}-${signer}-signing`;
}

/**
 * One KMS HMAC key per producing Rust handler (HMAC_256, GENERATE_VERIFY_MAC), with which it signs
 * every event it publishes (`metadata.signature`, see the team plan); consumers verify the
 * signature with the producer's key before acting, whatever way the event reached them (rule,
 * direct invoke, another principal's PutEvents, the outbox, a redrive).
 *
 * Only the producer's role may sign: its role gets `kms:GenerateMac` on its own key, and the key
 * policy denies `kms:GenerateMac` to every other principal ({@link reserveSigning}), so no IAM
 * grant elsewhere in the account (an administrator's `kms:*` on `*` included) can forge a
 * signature. Verifying is granted per key to the roles that consume the signer's events.
 * Otherwise the key policy is CDK's default: the account may manage the key and delegate its use
 * through IAM.
 */
export class SigningKeys extends Construct {
  /** Signer (handler) → its key, in the order given. */
  public readonly keys = new Map<string, kms.Key>();
  private readonly reserved = new Set<string>();

  constructor(scope: Construct, id: string, props: SigningKeysProps) {
    super(scope, id);
    for (const signer of props.signers) {
      const key = new kms.Key(this, signer, {
        alias: signingKeyAlias(props.stage, signer),
        description: `Signs the events the Alchemiser ${signer} function publishes (stage ${props.stage})`,
        keySpec: kms.KeySpec.HMAC_256,
        keyUsage: kms.KeyUsage.GENERATE_VERIFY_MAC,
        // A deleted dev stage's key goes after KMS's shortest wait; a retained one is never deleted by CloudFormation.
        pendingWindow: props.retain ? Duration.days(30) : Duration.days(7),
        removalPolicy: props.retain ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
      });
      skipCheckov(key, {
        id: 'CKV_AWS_7',
        reason:
          'An HMAC signing key: KMS rotates only symmetric encryption keys automatically. Rotating a ' +
          'signing key means a new key (a deploy), consumers verifying with the old and the new one meanwhile.',
      });
      this.keys.set(signer, key);
    }
  }

  /** The key of `signer`, or a clear error when it has none (it publishes nothing). */
  public keyOf(signer: string): kms.Key {
    const key = this.keys.get(signer);
    if (key === undefined) throw new Error(`"${signer}" publishes nothing, so it has no signing key.`);
    return key;
  }

  /**
   * Lets `role` sign with the key of `signer` (`kms:GenerateMac` on that key only), and makes it
   * the only principal that can: the key policy denies `kms:GenerateMac` to any other principal.
   * Called once per signer.
   */
  public reserveSigning(signer: string, role: iam.IRole): void {
    if (this.reserved.has(signer)) throw new Error(`The signing key of ${signer} is already reserved to a role.`);
    this.reserved.add(signer);
    const key = this.keyOf(signer);
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'OnlyTheProducerRoleSigns',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['kms:GenerateMac'],
        // In a key policy, "*" is this key.
        resources: ['*'],
        // The role's ARN, not a session's: aws:PrincipalArn is the role for every session of it.
        conditions: { ArnNotEquals: { 'aws:PrincipalArn': role.roleArn } },
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'SignOwnEvents',
        actions: ['kms:GenerateMac'],
        resources: [key.keyArn],
      }),
    );
  }

  /** Lets `role` verify signatures of each of `signers` (`kms:VerifyMac`, one statement per key). */
  public grantVerify(role: iam.IRole, signers: readonly string[]): void {
    for (const signer of signers) {
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: `VerifySignaturesOf${capitalize(signer)}`,
          actions: ['kms:VerifyMac'],
          resources: [this.keyOf(signer).keyArn],
        }),
      );
    }
  }

  /** `VERIFY_KEY_IDS`: a JSON object signer → key ARN for `signers` (resolved at deploy time). */
  public verifyKeyIds(signers: readonly string[]): string {
    return Stack.of(this).toJsonString(this.verifyKeyIdMap(signers));
  }

  /** Signer → key ARN for `signers`, sorted by signer. */
  public verifyKeyIdMap(signers: readonly string[]): Record<string, string> {
    return Object.fromEntries([...signers].sort().map((signer) => [signer, this.keyOf(signer).keyArn]));
  }
}

function capitalize(word: string): string {
  return word
    .split('-')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}
