import * as fs from 'node:fs';
import * as path from 'node:path';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Node } from 'constructs';
import { profileFor } from './handler-profiles';
import type { RoutingTable } from './routing-table';

/** The infra/ folder: every default path is resolved from here, never from the working directory. */
export const INFRA_DIR = path.resolve(__dirname, '..');

/** Default location of the per-stage settings. */
export const DEFAULT_STAGES_FILE = path.join(INFRA_DIR, 'config', 'stages.json');

/**
 * Stage names end up in resource names with tight length limits (a rule name such as
 * `alchemiser-portfolio-events-<stage>` must stay within EventBridge's 64 characters), so they
 * are short: lowercase letters, digits and inner hyphens.
 */
export const STAGE_NAME_PATTERN = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;
export const STAGE_NAME_MAX_LENGTH = 20;

/** Which broker adapter the portfolio and execution functions use. */
export type BrokerKind = 'alpaca' | 'paper';

/** CPU architecture of the Lambda artifacts `scripts/build` produced. */
export type LambdaArchitecture = 'x86_64' | 'arm64';

/**
 * Who does an ownable handler's job on this stage's bus:
 * - `rust`: our function, live (its rule delivers, it publishes and trades);
 * - `python`: the Python system; our function stays deployed but gets no rule (or schedule), so
 *   switching back is a config change;
 * - `shadow`: our function receives the same events as the Python owner but only records what it
 *   would have emitted in the workflow ledger: it may not publish, and execution may not trade.
 */
export type Owner = 'rust' | 'python' | 'shadow';

/** The owners a stage may give a handler. */
export const OWNERS: readonly Owner[] = ['rust', 'python', 'shadow'];

/** Architecture of stages that do not set one: Graviton, about 20% cheaper per GB-second than x86_64. */
export const DEFAULT_ARCHITECTURE: LambdaArchitecture = 'arm64';
/** How long a workflow may run before the monitor's sweep times it out (and execution refuses its plans). */
export const DEFAULT_WORKFLOW_DEADLINE_MINUTES = 30;
/** How long the workflow ledger keeps a workflow's records. */
export const DEFAULT_LEDGER_RETENTION_DAYS = 90;

/** Everything that may differ between stages, fully resolved (no optional fields). */
export interface StageConfig {
  /** The stage name, validated against {@link STAGE_NAME_PATTERN}. */
  readonly stage: string;
  /** Whether the routing rules deliver events. Off by default: a stage opts in. */
  readonly rulesEnabled: boolean;
  /** Whether the 09:35 New York strategy schedule fires. Follows `rulesEnabled` unless set. */
  readonly scheduleEnabled: boolean;
  /** `BROKER` for portfolio and execution. */
  readonly broker: BrokerKind;
  /** `ALLOW_REPLAY_EXECUTION` for execution: whether replayed events may place orders. */
  readonly allowReplayExecution: boolean;
  /** Architecture the functions are deployed as; synth refuses artifacts built for the other one. */
  readonly architecture: LambdaArchitecture;
  /** The owner of every ownable handler of the routing table (`rust` unless the stage says otherwise). */
  readonly owners: Readonly<Record<string, Owner>>;
  /** `WORKFLOW_DEADLINE_SECONDS` (× 60) for the monitor and execution. */
  readonly workflowDeadlineMinutes: number;
  /** `LEDGER_RETENTION_DAYS` for the functions that write the workflow ledger. */
  readonly ledgerRetentionDays: number;
  /** Optional e-mail address subscribed to the workflow notification topic. */
  readonly notificationEmail?: string;
  /** Notify on WorkflowCompleted too, not only on WorkflowFailed. */
  readonly notifyOnCompleted: boolean;
  /** CloudWatch Logs retention for every function's log group. */
  readonly logRetentionDays: RetentionDays;
  /** Keep the table, secret and log groups when the stack is deleted (prod), or delete them (dev, e2e). */
  readonly retainData: boolean;
  /** `STRATEGY_ALLOCATION` for strategy: symbol → decimal weight string. */
  readonly strategyAllocation: Readonly<Record<string, string>>;
  /** Extra environment variables for every function (e.g. `PAPER_BROKER_STATE` for local tests). */
  readonly extraEnvironment: Readonly<Record<string, string>>;
  /** Optional e-mail address subscribed to the alarm topic. */
  readonly alarmEmail?: string;
}

/** The shape of one entry (or the defaults) in config/stages.json: every key optional. */
type StageSettings = Partial<Omit<StageConfig, 'stage' | 'owners'>> & { readonly owners?: Readonly<Record<string, Owner>> };

interface StagesFile {
  readonly defaults?: StageSettings;
  readonly stages?: Record<string, StageSettings>;
}

const KNOWN_SETTINGS: ReadonlySet<string> = new Set([
  'rulesEnabled',
  'scheduleEnabled',
  'broker',
  'allowReplayExecution',
  'architecture',
  'logRetentionDays',
  'retainData',
  'strategyAllocation',
  'extraEnvironment',
  'alarmEmail',
  'owners',
  'workflowDeadlineMinutes',
  'ledgerRetentionDays',
  'notificationEmail',
  'notifyOnCompleted',
]);

/**
 * The handlers whose live owner on this stage is the Python system: those it owns, and those ours
 * only shadow (a shadow receives the Python owner's events and publishes nothing). Their events
 * come unsigned from Python sources; a stage without any accepts no Python source at all.
 */
export function pythonOwnedHandlers(config: Pick<StageConfig, 'owners'>): string[] {
  return Object.entries(config.owners)
    .filter(([, owner]) => owner === 'python' || owner === 'shadow')
    .map(([handler]) => handler)
    .sort();
}

/** Throws unless `stage` is a usable stage name; the message says what is allowed. */
export function validateStageName(stage: unknown): string {
  if (stage === undefined || stage === null || stage === '') {
    throw new Error(
      'No stage given: pass one with -c stage=<name> (for example: npx cdk synth -c stage=dev).',
    );
  }
  if (typeof stage !== 'string') {
    throw new Error(`Invalid stage ${JSON.stringify(stage)}: the stage must be a string.`);
  }
  if (!STAGE_NAME_PATTERN.test(stage) || stage.length > STAGE_NAME_MAX_LENGTH) {
    throw new Error(
      `Invalid stage name "${stage}": use 1-${STAGE_NAME_MAX_LENGTH} lowercase letters, digits ` +
        'and hyphens, starting and ending with a letter or digit (for example dev, prod, e2e, pr-42).',
    );
  }
  return stage;
}

/**
 * Reads a boolean context value. The CLI passes `-c flag=true` as the string "true",
 * tests pass real booleans; anything else is an error rather than a silent false.
 */
export function booleanContext(node: Node, key: string): boolean | undefined {
  const value: unknown = node.tryGetContext(key);
  if (value === undefined || value === null || value === '') return undefined;
  if (value === true || value === 'true') return true;
  if (value === false || value === 'false') return false;
  throw new Error(`Context ${key} must be true or false, got ${JSON.stringify(value)}.`);
}

/**
 * Resolves the configuration of the stage named by `-c stage=<name>`:
 * defaults from the stages file, then the stage's own entry (unknown stages get the defaults,
 * so their rules stay disabled), then the context overrides `rulesEnabled` and `scheduleEnabled`.
 * `owners` merges per handler (a stage that sets only `execution` keeps the defaults' others);
 * every other key is replaced whole. The routing table says which handlers are ownable.
 */
export function resolveStageConfig(
  node: Node,
  routing: Pick<RoutingTable, 'ownable'>,
  stagesFile: string = DEFAULT_STAGES_FILE,
): StageConfig {
  const stage = validateStageName(node.tryGetContext('stage'));
  const file = readStagesFile(stagesFile);
  const ownable = routing.ownable.map((o) => o.handler);
  const defaults = checkSettings(file.defaults ?? {}, `${stagesFile}: defaults`, ownable);
  const own = checkSettings(file.stages?.[stage] ?? {}, `${stagesFile}: stages.${stage}`, ownable);
  const merged: StageSettings = { ...defaults, ...own };
  const ownerSettings = { ...defaults.owners, ...own.owners };

  const rulesEnabled = booleanContext(node, 'rulesEnabled') ?? merged.rulesEnabled ?? false;
  const scheduleEnabled = booleanContext(node, 'scheduleEnabled') ?? merged.scheduleEnabled ?? rulesEnabled;

  return {
    stage,
    rulesEnabled,
    scheduleEnabled,
    broker: merged.broker ?? 'alpaca',
    allowReplayExecution: merged.allowReplayExecution ?? false,
    architecture: merged.architecture ?? DEFAULT_ARCHITECTURE,
    owners: Object.fromEntries(ownable.map((handler) => [handler, ownerSettings[handler] ?? 'rust'])),
    workflowDeadlineMinutes: merged.workflowDeadlineMinutes ?? DEFAULT_WORKFLOW_DEADLINE_MINUTES,
    ledgerRetentionDays: merged.ledgerRetentionDays ?? DEFAULT_LEDGER_RETENTION_DAYS,
    notificationEmail: merged.notificationEmail,
    notifyOnCompleted: merged.notifyOnCompleted ?? false,
    logRetentionDays: merged.logRetentionDays ?? RetentionDays.ONE_MONTH,
    retainData: merged.retainData ?? false,
    strategyAllocation: merged.strategyAllocation ?? {},
    extraEnvironment: merged.extraEnvironment ?? {},
    alarmEmail: merged.alarmEmail,
  };
}

function readStagesFile(file: string): StagesFile {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`Cannot read the stage configuration ${file}: ${(err as Error).message}`, { cause: err });
  }
  try {
    return JSON.parse(text) as StagesFile;
  } catch (err) {
    throw new Error(`${file} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
}

/** Validates one settings object, naming the file, key and rule on the first problem. */
function checkSettings(settings: StageSettings, where: string, ownable: readonly string[]): StageSettings {
  const fail = (key: string, rule: string): never => {
    throw new Error(`${where}.${key}: ${rule}`);
  };
  for (const key of Object.keys(settings)) {
    if (!KNOWN_SETTINGS.has(key)) fail(key, `unknown setting (known: ${[...KNOWN_SETTINGS].join(', ')})`);
  }
  for (const key of ['rulesEnabled', 'scheduleEnabled', 'allowReplayExecution', 'retainData', 'notifyOnCompleted'] as const) {
    if (settings[key] !== undefined && typeof settings[key] !== 'boolean') fail(key, 'must be true or false');
  }
  if (settings.broker !== undefined && settings.broker !== 'alpaca' && settings.broker !== 'paper') {
    fail('broker', 'must be "alpaca" or "paper"');
  }
  if (settings.architecture !== undefined && settings.architecture !== 'x86_64' && settings.architecture !== 'arm64') {
    fail('architecture', 'must be "x86_64" or "arm64"');
  }
  if (
    settings.logRetentionDays !== undefined &&
    !(Object.values(RetentionDays) as unknown[]).includes(settings.logRetentionDays)
  ) {
    fail('logRetentionDays', 'must be a CloudWatch Logs retention period in days (1, 3, 5, 7, 14, 30, 60, 90, ...)');
  }
  if (settings.strategyAllocation !== undefined) {
    if (!isPlainObject(settings.strategyAllocation)) fail('strategyAllocation', 'must be an object of symbol → weight');
    for (const [symbol, weight] of Object.entries(settings.strategyAllocation)) {
      if (!/^[A-Z][A-Z0-9.]*$/.test(symbol)) fail('strategyAllocation', `"${symbol}" is not a ticker symbol`);
      // Weights are decimal strings, as everywhere on the wire: never floats.
      if (typeof weight !== 'string' || !/^(0(\.\d+)?|1(\.0+)?)$/.test(weight)) {
        fail('strategyAllocation', `weight of ${symbol} must be a decimal string between 0 and 1, e.g. "0.6"`);
      }
    }
  }
  if (settings.extraEnvironment !== undefined) {
    if (!isPlainObject(settings.extraEnvironment)) fail('extraEnvironment', 'must be an object of NAME → string');
    for (const [name, value] of Object.entries(settings.extraEnvironment)) {
      if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(name)) fail('extraEnvironment', `"${name}" is not a valid variable name`);
      if (typeof value !== 'string') fail('extraEnvironment', `value of ${name} must be a string`);
    }
  }
  for (const key of ['alarmEmail', 'notificationEmail'] as const) {
    const value = settings[key];
    if (value !== undefined && (typeof value !== 'string' || !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(value))) {
      fail(key, 'must be an e-mail address');
    }
  }
  // 1 minute to 1 day: a workflow is a few Lambda invocations; a day-long one would cross market days.
  checkInteger(settings.workflowDeadlineMinutes, 1, 24 * 60, (rule) => fail('workflowDeadlineMinutes', rule));
  // DynamoDB TTL: at least a day so a workflow can be looked at the next morning; at most ten years.
  checkInteger(settings.ledgerRetentionDays, 1, 3650, (rule) => fail('ledgerRetentionDays', rule));
  if (settings.owners !== undefined) {
    if (!isPlainObject(settings.owners)) fail('owners', `must be an object of handler → ${OWNERS.join(' | ')}`);
    for (const [handler, owner] of Object.entries(settings.owners)) {
      if (!ownable.includes(handler)) {
        fail(`owners.${handler}`, `not an ownable handler of the routing table (ownable: ${ownable.join(', ')})`);
      }
      if (!(OWNERS as readonly unknown[]).includes(owner)) {
        fail(`owners.${handler}`, `must be ${OWNERS.map((o) => `"${o}"`).join(', ')}; got ${JSON.stringify(owner)}`);
      }
      const refusal = profileFor(handler).shadowRefusal;
      if (owner === 'shadow' && refusal !== undefined) fail(`owners.${handler}`, `"shadow" is not possible: ${refusal}`);
    }
  }
  return settings;
}

function checkInteger(value: unknown, min: number, max: number, fail: (rule: string) => never): void {
  if (value !== undefined && (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max)) {
    fail(`must be a whole number from ${min} to ${max}`);
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
