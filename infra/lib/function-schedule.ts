import { Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

/** Properties of {@link FunctionSchedule}. */
export interface FunctionScheduleProps {
  /** Physical name, carrying the stage (`alchemiser-strategy-<stage>`). */
  readonly scheduleName: string;
  /** What the schedule does, for the console and the role's description. */
  readonly description: string;
  readonly schedule: scheduler.ScheduleExpression;
  readonly targetFunction: lambda.IFunction;
  /** Invocations the scheduler could not deliver land here. */
  readonly deadLetterQueue: sqs.IQueue;
  readonly enabled: boolean;
  /** How long the scheduler keeps trying one invocation. */
  readonly maxEventAge: Duration;
  readonly retryAttempts: number;
}

/**
 * An EventBridge Scheduler schedule that invokes one function, on time (no flexible window), with
 * its own least-privilege role: invoke that function ($LATEST) and write to the DLQ, assumable by
 * the scheduler only for this schedule.
 *
 * EventBridge Scheduler rather than a scheduled rule: it takes a time zone (a rule's cron is UTC
 * only, and 15:45 New York moves between 19:45 and 20:45 UTC with daylight saving time).
 *
 * The function receives an EventBridge-style envelope (`source` `aws.scheduler`, `detail-type`
 * `Scheduled Event`, `time` the scheduled time, `id` the execution id), so it goes through the
 * same envelope parsing as every other event, and the execution id makes each firing idempotent.
 */
export class FunctionSchedule extends Construct {
  public readonly schedule: scheduler.Schedule;
  public readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: FunctionScheduleProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const { scheduleName, targetFunction, deadLetterQueue } = props;

    // Our own role instead of the LambdaInvoke target's, which also grants `<function arn>:*`
    // (every version and alias); the schedule invokes $LATEST only.
    this.role = new iam.Role(this, 'Role', {
      description: `Lets the schedule ${scheduleName} invoke its function`,
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
        sid: 'InvokeScheduledFunction',
        actions: ['lambda:InvokeFunction'],
        resources: [targetFunction.functionArn],
      }),
    );
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'RecordUndeliveredInDeadLetterQueue',
        actions: ['sqs:SendMessage'],
        resources: [deadLetterQueue.queueArn],
      }),
    );

    const target: scheduler.IScheduleTarget = {
      bind: () => ({
        arn: targetFunction.functionArn,
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
        deadLetterConfig: { arn: deadLetterQueue.queueArn },
      }),
    };

    this.schedule = new scheduler.Schedule(this, 'Schedule', {
      scheduleName,
      description: props.description,
      schedule: props.schedule,
      target,
      enabled: props.enabled,
      timeWindow: scheduler.TimeWindow.off(), // on time, not "somewhere in a window"
    });
  }
}
