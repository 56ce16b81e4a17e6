import * as fs from 'node:fs';
import * as path from 'node:path';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Node } from 'constructs';
import { ownableHandlers, specOf, type RoutingTable } from './routing-table';

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

/** Which broker adapter the functions that need the broker use. */
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

/**
 * Pre-trade limits execution checks before every order (issue 23), each optional: Rust has a safe
 * default for each (`MAX_FAILED_SELL_NOTIONAL` 500; see the Rust side for the others). Amounts
 * are decimal strings, as everywhere on the wire, never floats.
 */
export interface RiskLimits {
  /** `MAX_ORDER_NOTIONAL`: the largest notional of one order. */
  readonly maxOrderNotional?: string;
  /** `MAX_PLAN_TURNOVER`: the largest turnover of one plan, as a fraction of the account's equity. */
  readonly maxPlanTurnover?: string;
  /** `MAX_DAILY_BUY_NOTIONAL`: notional bought per trading day across all plans (from the broker's fills). */
  readonly maxDailyBuyNotional?: string;
  /** `MAX_DAILY_ORDERS`: orders per trading day. */
  readonly maxDailyOrders?: number;
  /** `MAX_FAILED_SELL_NOTIONAL`: failed sells above this block the plan's buys. */
  readonly maxFailedSellNotional?: string;
  /** `BUY_ALLOW_LIST`: the only symbols ever bought (absent: any). */
  readonly buyAllowList?: readonly string[];
}

/** The keys of {@link RiskLimits}, in the order the README lists them. */
export const RISK_LIMIT_KEYS = [
  'maxOrderNotional',
  'maxPlanTurnover',
  'maxDailyBuyNotional',
  'maxDailyOrders',
  'maxFailedSellNotional',
  'buyAllowList',
] as const;

/**
 * When the strategy runs on a trading day (issue 23): `offsetMinutes` before the close, or after
 * the open, New York time. The schedule fires at every candidate time; the strategy asks the
 * broker's calendar whether this one is today's run (see strategy-schedule.ts).
 */
export interface StrategyRunAt {
  readonly anchor: 'close' | 'open';
  readonly offsetMinutes: number;
}

/** The Python system's habit, and the default: 15 minutes before the (possibly early) close. */
export const DEFAULT_STRATEGY_RUN_AT: StrategyRunAt = { anchor: 'close', offsetMinutes: 15 };

/**
 * The offsets allowed per anchor: before the close, at least a minute and no earlier than the
 * open on an early-close day (13:00 − 210 min = 09:30); after the open, before an early close.
 */
export const STRATEGY_OFFSET_RANGE: Readonly<Record<StrategyRunAt['anchor'], readonly [number, number]>> = {
  close: [1, 210],
  open: [0, 209],
};

/** Architecture of stages that do not set one: Graviton, about 20% cheaper per GB-second than x86_64. */
export const DEFAULT_ARCHITECTURE: LambdaArchitecture = 'arm64';
/** How long the workflow ledger keeps a workflow's records. */
export const DEFAULT_LEDGER_RETENTION_DAYS = 90;
/**
 * The signing key generation of stages that do not set one: the keys every stage was first
 * deployed with (issue 21). KMS does not rotate HMAC keys, so a stage rotates them by raising
 * its generation (docs/runbooks.md, "Rotate a signing key").
 */
export const DEFAULT_SIGNING_KEY_GENERATION = 1;

/** Everything that may differ between stages, fully resolved (no optional fields). */
export interface StageConfig {
  /** The stage name, validated against {@link STAGE_NAME_PATTERN}. */
  readonly stage: string;
  /** Whether the routing rules deliver events. Off by default: a stage opts in. */
  readonly rulesEnabled: boolean;
  /** Whether the strategy schedule fires (see {@link strategyRunAt}). Follows `rulesEnabled` unless set. */
  readonly scheduleEnabled: boolean;
  /** `BROKER` for the functions that need the broker. */
  readonly broker: BrokerKind;
  /** `ALLOW_REPLAY_EXECUTION` for execution: whether replayed events may place orders. */
  readonly allowReplayExecution: boolean;
  /** Architecture the functions are deployed as; synth refuses artifacts built for the other one. */
  readonly architecture: LambdaArchitecture;
  /** The owner of every ownable handler of the routing table (`rust` unless the stage says otherwise). */
  readonly owners: Readonly<Record<string, Owner>>;
  /**
   * `WORKFLOW_DEADLINE_SECONDS` (× 60) for the handlers that need `workflow_deadline`; defaults to
   * the registry's `default_workflow_deadline_seconds` (routes.json).
   */
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
  /** Execution's pre-trade limits; only the ones set reach its environment. */
  readonly riskLimits: RiskLimits;
  /** When the strategy runs: the schedule's crons and `STRATEGY_RUN_AT`. */
  readonly strategyRunAt: StrategyRunAt;
  /**
   * Which generation of signing keys the producers sign with (1 and up): generation N's keys
   * sign, N's and N−1's verify. Raising it by one rotates every signer's key (signing-keys.ts).
   */
  readonly signingKeyGeneration: number;
}

/** The shape of one entry (or the defaults) in config/stages.json: every key optional. */
type StageSettings = Partial<Omit<StageConfig, 'stage' | 'owners' | 'strategyRunAt'>> & {
  readonly owners?: Readonly<Record<string, Owner>>;
  readonly strategyRunAt?: Partial<StrategyRunAt>;
};

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
  'riskLimits',
  'strategyRunAt',
  'signingKeyGeneration',
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
 * every other key is replaced whole. The routing table's specs say which handlers are ownable (those
 * with a Python counterpart) and which cannot be shadows, and the default workflow deadline.
 */
export function resolveStageConfig(
  node: Node,
  routing: Pick<RoutingTable, 'specs' | 'default_workflow_deadline_seconds'>,
  stagesFile: string = DEFAULT_STAGES_FILE,
): StageConfig {
  const stage = validateStageName(node.tryGetContext('stage'));
  const file = readStagesFile(stagesFile);
  const ownable = ownableHandlers(routing).map((o) => o.handler);
  const defaults = checkSettings(file.defaults ?? {}, `${stagesFile}: defaults`, routing, ownable);
  const own = checkSettings(file.stages?.[stage] ?? {}, `${stagesFile}: stages.${stage}`, routing, ownable);
  const merged: StageSettings = { ...defaults, ...own };
  const ownerSettings = { ...defaults.owners, ...own.owners };
  // Limits merge per limit, as owners do: a stage that sets one keeps the defaults' others.
  const riskLimits: RiskLimits = { ...defaults.riskLimits, ...own.riskLimits };
  const strategyAllocation = merged.strategyAllocation ?? {};
  checkAllocationBuyable(strategyAllocation, riskLimits, `${stagesFile}: stages.${stage}`);

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
    workflowDeadlineMinutes: merged.workflowDeadlineMinutes ?? routing.default_workflow_deadline_seconds / 60,
    ledgerRetentionDays: merged.ledgerRetentionDays ?? DEFAULT_LEDGER_RETENTION_DAYS,
    notificationEmail: merged.notificationEmail,
    notifyOnCompleted: merged.notifyOnCompleted ?? false,
    logRetentionDays: merged.logRetentionDays ?? RetentionDays.ONE_MONTH,
    retainData: merged.retainData ?? false,
    strategyAllocation,
    extraEnvironment: merged.extraEnvironment ?? {},
    alarmEmail: merged.alarmEmail,
    riskLimits,
    // Replaced whole (a stage says when its strategy runs); each key has its default.
    strategyRunAt: {
      anchor: merged.strategyRunAt?.anchor ?? DEFAULT_STRATEGY_RUN_AT.anchor,
      offsetMinutes: merged.strategyRunAt?.offsetMinutes ?? DEFAULT_STRATEGY_RUN_AT.offsetMinutes,
    },
    signingKeyGeneration: merged.signingKeyGeneration ?? DEFAULT_SIGNING_KEY_GENERATION,
  };
}

/**
 * A buy allow-list that leaves out a symbol the strategy targets would refuse every plan's buy of
 * it: a contradiction in the stage's settings, refused at synth time.
 */
function checkAllocationBuyable(allocation: Readonly<Record<string, string>>, limits: RiskLimits, where: string): void {
  if (limits.buyAllowList === undefined) return;
  const allowed = new Set(limits.buyAllowList);
  const blocked = Object.entries(allocation)
    .filter(([symbol, weight]) => Number(weight) > 0 && !allowed.has(symbol))
    .map(([symbol]) => symbol);
  if (blocked.length > 0) {
    throw new Error(
      `${where}.riskLimits.buyAllowList: leaves out ${blocked.join(', ')}, which strategyAllocation targets: ` +
        'execution would never buy them. Add them to the list or take them out of the allocation.',
    );
  }
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
function checkSettings(
  settings: StageSettings,
  where: string,
  routing: Pick<RoutingTable, 'specs'>,
  ownable: readonly string[],
): StageSettings {
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
      if (!TICKER.test(symbol)) fail('strategyAllocation', `"${symbol}" is not a ticker symbol`);
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
  if (settings.riskLimits !== undefined) {
    checkRiskLimits(settings.riskLimits, (key, rule) => fail(key === '' ? 'riskLimits' : `riskLimits.${key}`, rule));
  }
  if (settings.strategyRunAt !== undefined) checkStrategyRunAt(settings.strategyRunAt, (key, rule) => fail(key, rule));
  checkSigningKeyGeneration(settings.signingKeyGeneration, (rule) => fail('signingKeyGeneration', rule));
  if (settings.owners !== undefined) {
    if (!isPlainObject(settings.owners)) fail('owners', `must be an object of handler → ${OWNERS.join(' | ')}`);
    for (const [handler, owner] of Object.entries(settings.owners)) {
      if (!ownable.includes(handler)) {
        fail(`owners.${handler}`, `not an ownable handler of the routing table (ownable: ${ownable.join(', ')})`);
      }
      if (!(OWNERS as readonly unknown[]).includes(owner)) {
        fail(`owners.${handler}`, `must be ${OWNERS.map((o) => `"${o}"`).join(', ')}; got ${JSON.stringify(owner)}`);
      }
      const refusal = specOf(routing, handler).shadow_refusal;
      if (owner === 'shadow' && refusal !== null) fail(`owners.${handler}`, `"shadow" is not possible: ${refusal}`);
    }
  }
  return settings;
}

/** A decimal string: digits, optionally a point and more digits (no sign, no exponent, no float). */
const DECIMAL = /^\d+(\.\d+)?$/;
const TICKER = /^[A-Z][A-Z0-9.]*$/;

function checkRiskLimits(limits: unknown, fail: (key: string, rule: string) => never): void {
  if (!isPlainObject(limits)) return fail('', `must be an object with any of ${RISK_LIMIT_KEYS.join(', ')}`);
  for (const key of Object.keys(limits)) {
    if (!(RISK_LIMIT_KEYS as readonly string[]).includes(key)) fail(key, `unknown limit (known: ${RISK_LIMIT_KEYS.join(', ')})`);
  }
  const decimal = (key: string, min: 'positive' | 'non-negative', example: string) => {
    const value = limits[key];
    if (value === undefined) return;
    if (typeof value !== 'string' || !DECIMAL.test(value)) {
      fail(key, `must be a decimal string such as "${example}" (amounts are strings, never floats); got ${JSON.stringify(value)}`);
    }
    if (min === 'positive' && Number(value) === 0) fail(key, 'must be greater than 0');
  };
  decimal('maxOrderNotional', 'positive', '25000');
  decimal('maxPlanTurnover', 'positive', '1.0');
  decimal('maxDailyBuyNotional', 'positive', '100000');
  // 0 is a choice: any failed sell blocks the buys.
  decimal('maxFailedSellNotional', 'non-negative', '500');
  checkInteger(limits.maxDailyOrders, 1, 10000, (rule) => fail('maxDailyOrders', rule));
  const list = limits.buyAllowList;
  if (list !== undefined) {
    if (!Array.isArray(list) || list.length === 0) {
      fail('buyAllowList', 'must be a non-empty list of ticker symbols (leave it out to allow any symbol)');
    }
    for (const symbol of list as unknown[]) {
      if (typeof symbol !== 'string' || !TICKER.test(symbol)) fail('buyAllowList', `${JSON.stringify(symbol)} is not a ticker symbol`);
    }
    if (new Set(list as unknown[]).size !== (list as unknown[]).length) fail('buyAllowList', 'lists a symbol twice');
  }
}

function checkStrategyRunAt(runAt: unknown, fail: (key: string, rule: string) => never): void {
  if (!isPlainObject(runAt)) return fail('strategyRunAt', 'must be an object {"anchor": "close" | "open", "offsetMinutes": N}');
  for (const key of Object.keys(runAt)) {
    if (key !== 'anchor' && key !== 'offsetMinutes') fail(`strategyRunAt.${key}`, 'unknown key (known: anchor, offsetMinutes)');
  }
  const anchor = runAt.anchor ?? DEFAULT_STRATEGY_RUN_AT.anchor;
  if (anchor !== 'close' && anchor !== 'open') {
    return fail('strategyRunAt.anchor', `must be "close" or "open"; got ${JSON.stringify(anchor)}`);
  }
  const [min, max] = STRATEGY_OFFSET_RANGE[anchor];
  const when = anchor === 'close' ? 'before the close' : 'after the open';
  checkInteger(runAt.offsetMinutes, min, max, (rule) => fail('strategyRunAt.offsetMinutes', `${rule} (minutes ${when})`));
}

/**
 * A generation counts rotations: a whole number from 1 up, written as a JSON number (a string
 * such as "2" is refused rather than read, as every other number of the file is).
 */
function checkSigningKeyGeneration(value: unknown, fail: (rule: string) => never): void {
  if (value !== undefined && !(typeof value === 'number' && Number.isSafeInteger(value) && value >= 1)) {
    fail(
      `must be a whole number of at least 1 (the generation of the stage's signing keys; raise it by one to rotate them); ` +
        `got ${JSON.stringify(value)}`,
    );
  }
}

function checkInteger(value: unknown, min: number, max: number, fail: (rule: string) => never): void {
  if (value !== undefined && (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max)) {
    fail(`must be a whole number from ${min} to ${max}`);
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
