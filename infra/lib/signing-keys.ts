import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { skipCheckov } from './template-checks';

/** Properties of {@link SigningKeys}. */
export interface SigningKeysProps {
  readonly stage: string;
  /** The Rust handlers that publish events (routing-table.ts `rustProducers`): one key each per generation. */
  readonly signers: readonly string[];
  /** Keep the keys when the stack is deleted (or a rotation drops them): events signed with them stay verifiable. */
  readonly retain: boolean;
  /**
   * The stage's key generation (`signingKeyGeneration`, 1 and up): generation N's keys sign,
   * N's and N−1's verify, older ones are not in the stack. Default 1.
   */
  readonly generation?: number;
}

/** One signer's keys in the stack. */
export interface SignerKeys {
  /** The current generation's key: the alias names it and the producer signs with it (`SIGNING_KEY_ID`). */
  readonly current: kms.Key;
  /**
   * The previous generation's key, from generation 2 on: consumers still verify with it (events
   * signed before the last rotation may still be in flight), and nobody may sign with it.
   */
  readonly previous?: kms.Key;
}

/** The KMS alias of a signer's key: `alias/alchemiser-<stage>-<handler>-signing`. */
export function signingKeyAlias(stage: string, signer: string): string {
  return `alias/alchemiser-${stage}-${signer}-signing`;
}

/**
 * The construct id of a signer's key of `generation`. Generation 1's is the signer's name, as
 * deployed before keys had generations: changing it would replace every stage's keys.
 */
export function signingKeyConstructId(signer: string, generation: number): string {
  return generation === 1 ? signer : `${signer}-generation-${generation}`;
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
 *
 * Rotation: KMS does not rotate HMAC keys, so a stage raises its key generation instead. Each
 * signer then gets a new key, which the alias names and the producer signs with; the previous
 * generation's key stays in the stack for verifying only (events signed before the rotation may
 * still be in the dead-letter queue, the outbox, the follow-up queue or the archive), and its key
 * policy denies `kms:GenerateMac` to every principal, the old producer role included: a rotation
 * usually answers a suspected misuse, and it ends the window only if the old key can mint nothing
 * new while consumers still accept it. The generation before that leaves the stack (deleted, or
 * kept in KMS with that deny-all policy when `retain`): events signed with it are refused from then on.
 */
export class SigningKeys extends Construct {
  /** The stage's key generation (1 and up). */
  public readonly generation: number;
  /** Signer (handler) → its keys, in the order given. */
  public readonly keys = new Map<string, SignerKeys>();
  private readonly reserved = new Set<string>();

  constructor(scope: Construct, id: string, props: SigningKeysProps) {
    super(scope, id);
    const generation = props.generation ?? 1;
    if (!Number.isSafeInteger(generation) || generation < 1) {
      throw new Error(`The signing key generation must be a whole number of at least 1; got ${generation}.`);
    }
    this.generation = generation;
    for (const signer of props.signers) {
      const current = this.newKey(props, signer, generation);
      const previous = generation > 1 ? this.newKey(props, signer, generation - 1) : undefined;
      if (previous !== undefined) {
        previous.addToResourcePolicy(
          new iam.PolicyStatement({
            sid: 'RetiredKeySignsNothing',
            effect: iam.Effect.DENY,
            principals: [new iam.AnyPrincipal()],
            actions: ['kms:GenerateMac'],
            // In a key policy, "*" is this key.
            resources: ['*'],
          }),
        );
      }
      // The alias keeps the construct path it has had since generation 1 (`<signer>/Alias`, under
      // generation 1's key while it is in the stack), hence its logical id: CloudFormation then
      // moves it to the new key in place (UpdateAlias). Under a new logical id it would create a
      // second alias of the same name before deleting the first, which KMS refuses.
      const generationOne = [current, previous].find((key) => key?.node.id === signingKeyConstructId(signer, 1));
      const aliasScope = generationOne ?? new Construct(this, signingKeyConstructId(signer, 1));
      new kms.Alias(aliasScope, 'Alias', { aliasName: signingKeyAlias(props.stage, signer), targetKey: current });
      this.keys.set(signer, { current, previous });
    }
  }

  /** The signers (producing handlers), in the order given. */
  public get signers(): string[] {
    return [...this.keys.keys()];
  }

  /** The key `signer` signs with now, or a clear error when it has none (it publishes nothing). */
  public keyOf(signer: string): kms.Key {
    return this.keysOf(signer).current;
  }

  /** The keys of `signer`, or a clear error when it has none (it publishes nothing). */
  public keysOf(signer: string): SignerKeys {
    const keys = this.keys.get(signer);
    if (keys === undefined) throw new Error(`"${signer}" publishes nothing, so it has no signing key.`);
    return keys;
  }

  /**
   * Lets `role` sign with the current key of `signer` (`kms:GenerateMac` on that key only), and
   * makes it the only principal that can: the key policy denies `kms:GenerateMac` to any other
   * principal. Called once per signer.
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

  /**
   * Lets `role` verify signatures of each of `signers` (`kms:VerifyMac`, one statement per
   * signer, on its current and previous keys).
   */
  public grantVerify(role: iam.IRole, signers: readonly string[]): void {
    for (const signer of signers) {
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: `VerifySignaturesOf${capitalize(signer)}`,
          actions: ['kms:VerifyMac'],
          resources: this.verifyingKeysOf(signer).map((key) => key.keyArn),
        }),
      );
    }
  }

  /** `VERIFY_KEY_IDS`: a JSON object signer → key ARN(s) for `signers` (resolved at deploy time). */
  public verifyKeyIds(signers: readonly string[]): string {
    return Stack.of(this).toJsonString(this.verifyKeyIdMap(signers));
  }

  /**
   * Signer → the key ARNs its signatures verify with, sorted by signer: one ARN at generation 1
   * (as before keys had generations), else the list [current, previous], which the Rust side
   * reads as "while a key rotates, both verify" (`VerifyKeys::parse`).
   */
  public verifyKeyIdMap(signers: readonly string[]): Record<string, string | string[]> {
    return Object.fromEntries(
      [...signers].sort().map((signer) => {
        const arns = this.verifyingKeysOf(signer).map((key) => key.keyArn);
        return [signer, arns.length === 1 ? arns[0] : arns];
      }),
    );
  }

  /** The keys signatures of `signer` verify with: the current one, then the previous one if any. */
  private verifyingKeysOf(signer: string): kms.Key[] {
    const { current, previous } = this.keysOf(signer);
    return previous === undefined ? [current] : [current, previous];
  }

  private newKey(props: SigningKeysProps, signer: string, generation: number): kms.Key {
    const key = new kms.Key(this, signingKeyConstructId(signer, generation), {
      // Generation 1's description is the one deployed before keys had generations.
      description:
        `Signs the events the Alchemiser ${signer} function publishes (stage ${props.stage}` +
        (generation === 1 ? ')' : `, key generation ${generation})`),
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
    return key;
  }
}

function capitalize(word: string): string {
  return word
    .split('-')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}
