import * as fs from 'node:fs';
import * as path from 'node:path';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Node } from 'constructs';

/** The infra/ folder: every default path is resolved from here, never from the working directory. */
export const INFRA_DIR = path.resolve(__dirname, '..');

/** Default location of the per-stage settings. */
export const DEFAULT_STAGES_FILE = path.join(INFRA_DIR, 'config', 'stages.json');

/**
 * Stage names end up in resource names with tight length limits (a rule name such as
 * `alchemiser-WorkflowCompleted-to-monitor-<stage>` must stay within EventBridge's 64
 * characters), so they are short: lowercase letters, digits and inner hyphens.
 */
export const STAGE_NAME_PATTERN = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;
export const STAGE_NAME_MAX_LENGTH = 20;

/** Which broker adapter the portfolio and execution functions use. */
export type BrokerKind = 'alpaca' | 'paper';

/** CPU architecture of the Lambda artifacts `scripts/build` produced. */
export type LambdaArchitecture = 'x86_64' | 'arm64';

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
  /** Architecture the functions are deployed as; must match the built artifacts. */
  readonly architecture: LambdaArchitecture;
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
type StageSettings = Partial<Omit<StageConfig, 'stage'>>;

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
]);

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
 */
export function resolveStageConfig(node: Node, stagesFile: string = DEFAULT_STAGES_FILE): StageConfig {
  const stage = validateStageName(node.tryGetContext('stage'));
  const file = readStagesFile(stagesFile);
  const defaults = checkSettings(file.defaults ?? {}, `${stagesFile}: defaults`);
  const own = checkSettings(file.stages?.[stage] ?? {}, `${stagesFile}: stages.${stage}`);
  const merged: StageSettings = { ...defaults, ...own };

  const rulesEnabled = booleanContext(node, 'rulesEnabled') ?? merged.rulesEnabled ?? false;
  const scheduleEnabled = booleanContext(node, 'scheduleEnabled') ?? merged.scheduleEnabled ?? rulesEnabled;

  return {
    stage,
    rulesEnabled,
    scheduleEnabled,
    broker: merged.broker ?? 'alpaca',
    allowReplayExecution: merged.allowReplayExecution ?? false,
    architecture: merged.architecture ?? 'x86_64',
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
function checkSettings(settings: StageSettings, where: string): StageSettings {
  const fail = (key: string, rule: string): never => {
    throw new Error(`${where}.${key}: ${rule}`);
  };
  for (const key of Object.keys(settings)) {
    if (!KNOWN_SETTINGS.has(key)) fail(key, `unknown setting (known: ${[...KNOWN_SETTINGS].join(', ')})`);
  }
  for (const key of ['rulesEnabled', 'scheduleEnabled', 'allowReplayExecution', 'retainData'] as const) {
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
  if (settings.alarmEmail !== undefined && (typeof settings.alarmEmail !== 'string' || !settings.alarmEmail.includes('@'))) {
    fail('alarmEmail', 'must be an e-mail address');
  }
  return settings;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
