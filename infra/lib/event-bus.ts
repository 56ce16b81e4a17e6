import { Duration, Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';

/**
 * Which events the archive keeps: every source under some prefixes (a stage where the Python
 * system publishes too: its sources are many and follow its module paths), or exactly some sources.
 */
export type ArchivedSources = { readonly prefixes: readonly string[] } | { readonly exactly: readonly string[] };

/** Properties of {@link TradingEventBus}. */
export interface TradingEventBusProps {
  readonly stage: string;
  readonly archivedSources: ArchivedSources;
  /** How long the archive keeps events. */
  readonly archiveRetention: Duration;
  /**
   * The operator role (operator-role.ts): besides a source's own role, the one principal that may
   * publish with a reserved source (it republishes redriven, drained and replayed events).
   */
  readonly operatorRole: iam.IRole;
}

/** EventBridge's limit on a statement id; CDK prefixes `cdk-`. */
const STATEMENT_ID_MAX_LENGTH = 64;

/**
 * The stage's custom event bus `alchemiser-trading-events-<stage>` and its archive
 * `alchemiser-event-archive-<stage>`, which keeps every event of the workflow's sources so that a
 * workflow can be replayed.
 *
 * The bus's resource policy lets only this account put events, reserves each Rust source to the
 * role of the function that owns it ({@link reserveSource}), and, on a stage where the Python
 * system owns nothing, refuses the Python sources ({@link refuseSources}). Each statement is one
 * `AWS::Events::EventBusPolicy` (CDK's `addToResourcePolicy`), its id `cdk-<name>-<stage>`: the
 * stage keeps two stages of one account from sharing a statement id.
 */
export class TradingEventBus extends Construct {
  public readonly bus: events.EventBus;
  public readonly archive: events.Archive;

  constructor(
    scope: Construct,
    id: string,
    private readonly props: TradingEventBusProps,
  ) {
    super(scope, id);
    const account = Stack.of(this).account;

    this.bus = new events.EventBus(this, 'Bus', {
      eventBusName: `alchemiser-trading-events-${props.stage}`,
      description: `Alchemiser trading workflow events (${props.stage})`,
    });
    // Same-account principals still need an IAM grant (see HandlerFunction); this policy
    // makes explicit that no other account may put events on the bus.
    this.bus.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: this.statementId('ThisAccountOnly'),
        principals: [new iam.AccountPrincipal(account)],
        actions: ['events:PutEvents'],
        resources: [this.bus.eventBusArn],
      }),
    );

    const archived = props.archivedSources;
    const source =
      'prefixes' in archived
        ? events.Match.anyOf(...[...new Set(archived.prefixes)].map((p) => events.Match.prefix(`${p}.`)))
        : [...archived.exactly].sort();
    const what = 'prefixes' in archived ? [...new Set(archived.prefixes)].map((p) => `${p}.*`).join(' and ') : archived.exactly.join(', ');
    this.archive = this.bus.archive('Archive', {
      archiveName: `alchemiser-event-archive-${props.stage}`,
      description: `Every event of ${what}, for replay (${props.stage})`.slice(0, 512),
      eventPattern: { source },
      retention: props.archiveRetention,
    });
  }

  /**
   * Denies PutEvents of any entry with `source` to every principal but `owner` (the role of the
   * function that publishes it) and the operator role. IAM grants elsewhere in the account (a
   * PowerUser, `events:PutEvents` on `*`) cannot publish as that function any more.
   */
  public reserveSource(source: string, handler: string, owner: iam.IRole): void {
    this.bus.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: this.statementId(`ReserveSource-${handler}`),
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['events:PutEvents'],
        resources: [this.bus.eventBusArn],
        conditions: {
          // events:source has one value per entry of the call: any entry with this source.
          'ForAnyValue:StringEquals': { 'events:source': source },
          ArnNotEquals: { 'aws:PrincipalArn': [owner.roleArn, this.props.operatorRole.roleArn] },
        },
      }),
    );
  }

  /** Denies PutEvents of any entry whose source is one of `sources`, to every principal. */
  public refuseSources(name: string, sources: readonly string[]): void {
    if (sources.length === 0) return;
    this.bus.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: this.statementId(name),
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['events:PutEvents'],
        resources: [this.bus.eventBusArn],
        conditions: { 'ForAnyValue:StringEquals': { 'events:source': [...sources] } },
      }),
    );
  }

  private statementId(name: string): string {
    const sid = `${name}-${this.props.stage}`;
    if (`cdk-${sid}`.length > STATEMENT_ID_MAX_LENGTH) {
      throw new Error(`Bus policy statement id cdk-${sid} is longer than EventBridge's ${STATEMENT_ID_MAX_LENGTH} characters.`);
    }
    return sid;
  }
}
