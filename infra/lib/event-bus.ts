import { Duration, Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';

/** Properties of {@link TradingEventBus}. */
export interface TradingEventBusProps {
  readonly stage: string;
  /** Events whose `source` starts with `<prefix>.` for one of these are archived (the routing table's Rust and Python prefixes). */
  readonly sourcePrefixes: readonly string[];
  /** How long the archive keeps events. */
  readonly archiveRetention: Duration;
}

/**
 * The stage's custom event bus `alchemiser-trading-events-<stage>` and its archive
 * `alchemiser-event-archive-<stage>`, which keeps every event of the workflow's sources (ours and
 * the Python system's: `alchemiser.*`) so that a workflow can be replayed. The bus's resource
 * policy lets only this account put events.
 */
export class TradingEventBus extends Construct {
  public readonly bus: events.EventBus;
  public readonly archive: events.Archive;

  constructor(scope: Construct, id: string, props: TradingEventBusProps) {
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
        sid: 'AllowPutEventsFromThisAccountOnly',
        principals: [new iam.AccountPrincipal(account)],
        actions: ['events:PutEvents'],
        resources: [this.bus.eventBusArn],
      }),
    );

    const prefixes = [...new Set(props.sourcePrefixes)];
    this.archive = this.bus.archive('Archive', {
      archiveName: `alchemiser-event-archive-${props.stage}`,
      description: `Every ${prefixes.map((p) => `${p}.*`).join(' and ')} event, for replay (${props.stage})`,
      eventPattern: {
        source: prefixes.length === 1 ? events.Match.prefix(`${prefixes[0]}.`) : events.Match.anyOf(...prefixes.map((p) => events.Match.prefix(`${p}.`))),
      },
      retention: props.archiveRetention,
    });
  }
}
