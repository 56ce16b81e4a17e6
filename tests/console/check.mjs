// The operator console in a real browser: headless Chromium (the distribution's, never a
// download) opens each page as a person would and checks what they see — ids, states, plan rows,
// fills, the redrive command — and that nothing in the page runs: no dialog opens, no element
// the ledger's text would have made exists, no script error, no Content-Security-Policy
// violation (there is nothing for the policy to block when every value is escaped). Saves a
// screenshot of each page.
//
// Usage: node check.mjs --url URL --out DIR (--spec FILE | --discover STAGE)
//   --spec FILE       the pages and what each must show (scripts/test-console writes it):
//                     [{"name", "path", "status"?, "contains": [...], "payload"?: "<img ...>"}]
//   --discover STAGE  a deployed stage's ledger: finds a completed, a failed and a timed-out
//                     workflow through the pages' JSON and checks their pages (and a waiting
//                     dead letter's redrive command for STAGE)
//   --payload-workflow ID  (with --discover) a workflow whose failure reason holds
//                     `<img src=x onerror=alert(1)>`: its page must show it as text
// Exits 1 with every failed check listed.

import { chromium } from 'playwright-core';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, arg, i, all) => {
    if (arg.startsWith('--')) pairs.push([arg.slice(2), all[i + 1]]);
    return pairs;
  }, []),
);
if (!args.url || !args.out || !(args.spec || args.discover)) {
  console.error('usage: node check.mjs --url URL --out DIR (--spec FILE | --discover STAGE)');
  process.exit(2);
}
mkdirSync(args.out, { recursive: true });
const failures = [];
const fail = (page, what) => failures.push(`${page}: ${what}`);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});
const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });

/** Opens `path`, runs the checks every page gets, then `more(page, text)`; a screenshot. */
async function visit(name, path, { status = 200, contains = [], payload = null } = {}) {
  const page = await context.newPage();
  const events = [];
  page.on('dialog', (dialog) => {
    events.push(`a dialog opened: ${dialog.type()} ${dialog.message()}`);
    dialog.dismiss().catch(() => {});
  });
  page.on('pageerror', (error) => events.push(`a script error: ${error.message}`));
  page.on('console', (message) => {
    if (/Content Security Policy|Refused to/i.test(message.text())) {
      events.push(`the browser refused something: ${message.text()}`);
    }
  });
  const response = await page.goto(new URL(path, args.url).href, { waitUntil: 'load' });
  // Give an injected handler (an image that fails to load) the time to run.
  await page.waitForTimeout(150);
  const got = response ? response.status() : 0;
  if (got !== status) fail(name, `answered ${got}, expected ${status}`);
  const csp = response ? (response.headers()['content-security-policy'] || '') : '';
  if (!csp.includes("script-src 'none'")) fail(name, `no strict Content-Security-Policy (got "${csp}")`);
  // As a person reads it: a tile's number and label on two lines read as one phrase.
  const squeeze = (value) => value.replace(/\s+/g, ' ');
  const text = squeeze(await page.evaluate(() => document.body.innerText));
  for (const wanted of contains) {
    if (!text.includes(squeeze(wanted))) fail(name, `does not show "${wanted}"`);
  }
  const injected = await page.evaluate(
    () => document.querySelectorAll('img[src="x"], img[onerror], script, [onerror], [onload]').length,
  );
  if (injected) fail(name, `${injected} element(s) made from the ledger's text`);
  if (payload && !text.includes(squeeze(payload))) fail(name, `does not show the payload "${payload}" as text`);
  const styles = await page.evaluate(() => document.querySelectorAll('[style], style').length);
  if (styles) fail(name, `${styles} inline style(s)`);
  for (const event of events) fail(name, event);
  await page.screenshot({ path: join(args.out, `${name}.png`), fullPage: true });
  await page.close();
  return text;
}

async function json(path) {
  const response = await fetch(new URL(path, args.url).href);
  if (!response.ok) throw new Error(`${path} answered ${response.status}: ${await response.text()}`);
  return response.json();
}

if (args.spec) {
  for (const page of JSON.parse(readFileSync(args.spec, 'utf8'))) {
    await visit(page.name, page.path, page);
  }
} else {
  const stage = args.discover;
  await visit('stage-overview', '/?since=30d', { contains: ['Overview', 'Last run', `stage ${stage}`] });
  await visit('stage-workflows', '/workflows?since=30d', { contains: ['Workflows'] });
  await visit('stage-orders', '/orders?since=30d', { contains: ['Orders'] });
  await visit('stage-dead-letters', '/dead-letters?since=14d', { contains: ['Dead letters'] });
  for (const state of ['completed', 'failed', 'timed_out']) {
    const list = await json(`/workflows?since=30d&state=${state}&format=json`);
    // A failed workflow with a dead letter when there is one: its page offers the commands.
    const first = list.workflows.find((w) => (w.dead_letters || []).length) || list.workflows[0];
    if (!first) {
      fail(`stage-${state}`, `no ${state} workflow on stage ${stage} in the last 30 days`);
      continue;
    }
    const id = first.correlation_id;
    const view = await json(`/workflow?id=${encodeURIComponent(id)}&format=json`);
    const contains = [id, state];
    if (view.plan) contains.push(...view.plan.items.map((item) => item.symbol));
    for (const order of view.orders) if (order.fill_price) contains.push(order.fill_price);
    for (const letter of view.dead_letters) {
      contains.push(letter.inspect_command);
      if (letter.status === 'waiting') contains.push(letter.redrive_command);
    }
    if (state === 'failed') contains.push(view.failure ? 'Failure' : 'failed');
    await visit(`stage-${state}`, `/workflow?id=${encodeURIComponent(id)}`, { contains });
  }
  if (args['payload-workflow']) {
    const payload = '<img src=x onerror=alert(1)>';
    await visit('stage-payload', `/workflow?id=${encodeURIComponent(args['payload-workflow'])}`, {
      contains: ['failed', `broker said ${payload}`],
      payload,
    });
  }
}

await browser.close();
if (failures.length) {
  console.error(`${failures.length} check(s) failed:\n  ${failures.join('\n  ')}`);
  process.exit(1);
}
console.log(`every page checked; screenshots in ${args.out}`);
