import { Duration, Stack, TimeZone } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

/** Properties of {@link StrategySchedule}. */
export interface StrategyScheduleProps {
  readonly stage: string;
  readonly strategyFunction: lambda.IFunction;
  /** Invocations the scheduler could not deliver land here. */
  readonly deadLetterQueue: sqs.IQueue;
  readonly enabled: boolean;
  readonly maxEventAge: Duration;
  readonly retryAttempts: number;
}

/**
 * Starts the workflow: invokes the strategy function at 09:35 America/New_York, Monday to Friday
 * (five minutes after the US market opens), as `alchemiser-strategy-<stage>`.
 *
 * EventBridge Scheduler rather than a cron rule, because a rule's cron is UTC only and 09:35 New
 * York moves between 13:35 and 14:35 UTC with daylight saving time; Scheduler takes a time zone.
 *
 * The strategy function receives an EventBridge-style envelope (`source` `aws.scheduler`,
 * `detail-type` `Scheduled Event`, `time` the scheduled time, `id` the execution id), so it goes
 * through the same envelope parsing as every other event.
 */
export class StrategySchedule extends Construct {
  public readonly schedule: scheduler.Schedule;
  public readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: StrategyScheduleProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const scheduleName = `alchemiser-strategy-${props.stage}`;

    // Our own role instead of the LambdaInvoke target's, which also grants `<function arn>:*`
    // (every version and alias); the schedule invokes $LATEST only.
    this.role = new iam.Role(this, 'Role', {
      description: `Lets the schedule ${scheduleName} invoke the strategy function`,
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: {
          StringEquals: {
            'aws:SourceAccount': stack.account,
            'aws:SourceArn': stack.formatArn({ service: 'scheduler', resource: 'schedule', resourceName: `default/${scheduleName}` }),
          },
        },
      }),
    });
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'InvokeStrategyFunction',
        actions: ['lambda:InvokeFunction'],
        resources: [props.strategyFunction.functionArn],
      }),
    );
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'RecordUndeliveredInDeadLetterQueue',
        actions: ['sqs:SendMessage'],
        resources: [props.deadLetterQueue.queueArn],
      }),
    );

    const target: scheduler.IScheduleTarget = {
      bind: () => ({
        arn: props.strategyFunction.functionArn,
        role: this.role,
        input: scheduler.ScheduleTargetInput.fromObject({
          version: '0',
          id: scheduler.ContextAttribute.executionId,
          'detail-type': 'Scheduled Event',
          source: 'aws.scheduler',
          account: stack.account,
          time: scheduler.ContextAttribute.scheduledTime,
          region: stack.region,
          resources: [scheduler.ContextAttribute.scheduleArn],
          detail: {},
        }),
        retryPolicy: {
          maximumEventAgeInSeconds: props.maxEventAge.toSeconds(),
          maximumRetryAttempts: props.retryAttempts,
        },
        deadLetterConfig: { arn: props.deadLetterQueue.queueArn },
      }),
    };

    this.schedule = new scheduler.Schedule(this, 'Schedule', {
      scheduleName,
      description: `Runs the Alchemiser strategy at 09:35 New York time on weekdays (${props.stage})`,
      schedule: scheduler.ScheduleExpression.cron({
        minute: '35',
        hour: '9',
        weekDay: 'MON-FRI',
        timeZone: TimeZone.AMERICA_NEW_YORK,
      }),
      target,
      enabled: props.enabled,
      timeWindow: scheduler.TimeWindow.off(), // on time, not "somewhere in a window"
    });
  }
}
