// Sign-off in real Chromium (Debian's, driven by playwright-core) against `medpipe review`:
// node review_test.mjs MEDPIPE BATCH_OUT WORK_DIR SCREENSHOT_DIR. BATCH_OUT (what ViewerBatch wrote) is
// copied to WORK_DIR/out, served, and signed off there: a study with a SEG accepted, an X-ray study
// rejected, one analysis rejected, hostile text typed in; WORK_DIR/out/review.jsonl is what
// ReviewSend then sends from. Exits 77 (skipped) without node_modules or chromium.
import {spawn} from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import {chromiumOrSkip, launchChromium, makeChecks} from './browser_support.mjs';

const kHostile = '<img src=x onerror="document.title=1">';
const kReviewer = 'Dr. Test <b>bold</b> & "quoted"';  // a DICOM person name has at most two '='
const [medpipe, batch, work, shots] = process.argv.slice(2).map(arg => arg && path.resolve(arg));
if (!medpipe || !batch || !work || !shots) {
  console.error('usage: node review_test.mjs MEDPIPE BATCH_OUT WORK_DIR SCREENSHOT_DIR');
  process.exit(2);
}
const chromium = chromiumOrSkip();
const checks = makeChecks();
const check = checks.check;

const out = path.join(work, 'out');
fs.rmSync(work, {recursive: true, force: true});
fs.mkdirSync(shots, {recursive: true});
fs.cpSync(batch, out, {recursive: true});
const results = fs.readdirSync(path.join(out, 'studies')).filter(id => !id.startsWith('.'))
  .map(id => ({id, result: JSON.parse(fs.readFileSync(path.join(out, 'studies', id, 'result.json'), 'utf8'))}));
const analyses = study => study.result.series.flatMap(series => (series.analyses || []).map(a => ({series, analysis: a})));
const segmented = results.find(s => analyses(s).some(({analysis}) => analysis.outputs && analysis.outputs.seg));
const xray = results.find(s => analyses(s).some(({analysis}) => analysis.decision));
check(segmented && xray, 'the batch has a segmented study and a classified X-ray');
if (!segmented || !xray) process.exit(1);
const ledger = () => (fs.existsSync(path.join(out, 'review.jsonl')) ?
  fs.readFileSync(path.join(out, 'review.jsonl'), 'utf8').trim().split('\n').map(line => JSON.parse(line)) : []);

const server = spawn(medpipe, ['review', out, '--organization', 'Test Radiology'], {stdio: ['ignore', 'pipe', 'inherit']});
const url = await new Promise((resolve, reject) => {
  readline.createInterface({input: server.stdout}).once('line', resolve);
  server.once('exit', code => reject(new Error(`medpipe review ended: ${code}`)));
});
const origin = new URL(url).origin;
check(/^http:\/\/127\.0\.0\.1:\d+\/report\.html\?token=[0-9a-f]{48}$/.test(url), 'medpipe review prints a loopback URL with a token', url);
check((await fetch(origin + '/report.html')).status === 403, 'without the token the server refuses');
check((await fetch(origin + '/api/review', {method: 'POST', headers: {'X-Medpipe-Review': '1'}, body: '{}'})).status === 403,
      'and refuses a sign-off');

const browser = await launchChromium(chromium);
const context = await browser.newContext({viewport: {width: 1400, height: 1000}});
const problems = [];
async function open(address) {
  const page = await context.newPage();
  page.on('console', message => { if (message.type() === 'error') problems.push('console: ' + message.text()); });
  page.on('pageerror', error => problems.push('page error: ' + error.message));
  page.on('dialog', dialog => { problems.push('dialog: ' + dialog.message()); dialog.dismiss(); });
  await page.addInitScript(() => {
    window.cspViolations = [];
    document.addEventListener('securitypolicyviolation', event => window.cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`));
  });
  await page.goto(address);
  await page.waitForFunction(() => document.body.dataset.signoff, null, {timeout: 30000});
  return page;
}
const finish = async (page, name) => {
  const violations = await page.evaluate(() => window.cspViolations);
  check(violations.length === 0, `${name}: no Content-Security-Policy violations`, violations.join(' | '));
  await page.close();
};
const block = (page, analysis = '') => page.locator(`.signoff[data-analysis="${analysis}"]`);

try {
  // The batch page, served: counts, filters, plots, every study unreviewed.
  let page = await open(url);
  check(await page.evaluate(() => document.body.dataset.signoff) === 'ready', 'the batch page found the review API');
  const rows = await page.locator('#studies tbody tr').count();
  check(rows === results.length, 'a row per study', `${rows}`);
  const count = show => page.locator(`.filter-count[data-show="${show}"]`).textContent().then(Number);
  check(await count('all') === rows && await count('unreviewed') === rows, 'all unreviewed at first');
  await page.check('input[name=show][value=failed]');
  const failedShown = await page.locator('#studies tbody tr:not([hidden])').count();
  check(failedShown === await count('failed'), 'the failed filter shows the failed studies', `${failedShown}`);
  await page.check('input[name=show][value=all]');
  await page.selectOption('#filter-model', 'pneumonia');
  const pneumoniaRows = await page.locator('#studies tbody tr:not([hidden])').evaluateAll(trs => trs.map(tr => JSON.parse(tr.dataset.models)));
  check(pneumoniaRows.length > 0 && pneumoniaRows.every(models => models.includes('pneumonia')), 'the model filter keeps the studies it ran on',
        JSON.stringify(pneumoniaRows));
  await page.selectOption('#filter-model', '');
  const plots = await page.locator('figure.cohort-plot').count();
  check(plots >= 2, 'cohort plots: volumes per label and the classifier histogram', `${plots}`);
  check(await page.locator('figure.cohort-plot[data-kind=probability] line.threshold').count() > 0, 'the histogram draws its threshold');
  await page.screenshot({path: path.join(shots, 'batch_page.png'), fullPage: true});
  await finish(page, 'batch page');

  // The segmented study: accept it, with hostile text that must stay text; reject one of its analyses.
  page = await open(`${origin}/report/${segmented.id}.html`);
  check(await block(page).isVisible(), 'the study page shows its sign-off when served');
  check(await block(page).getAttribute('data-state') === 'unreviewed', 'the study is unreviewed');
  await page.fill('.signoff-reviewer', kReviewer);
  await block(page).locator('.signoff-comment').fill('contours fine ' + kHostile);
  await block(page).locator('.signoff-button[data-decision=accept]').click();
  await page.waitForFunction(() => document.querySelector('.signoff[data-analysis=""]').dataset.state === 'accepted');
  let entries = ledger();
  check(entries.length === 1 && entries[0].decision === 'accept' && entries[0].study_id === segmented.id &&
        /^[0-9a-f]{64}$/.test(entries[0].sha256) && entries[0].organization === 'Test Radiology',
        'the accept click wrote review.jsonl', JSON.stringify(entries));
  check(entries[0].reviewer === kReviewer && entries[0].comment.endsWith(kHostile), 'with the text as typed');
  check(await page.locator('img[src=x]').count() === 0 && await page.locator('.signoff-history li *').count() === 0 &&
        await page.title() !== '1', 'hostile text stays inert on the page');
  check((await block(page).locator('.signoff-history li').textContent()).includes(kHostile), 'and shows as text in the history');
  const analysisKey = await page.locator('.signoff[data-analysis]:not([data-analysis=""])').first().getAttribute('data-analysis');
  await block(page, analysisKey).locator('.signoff-comment').fill('left label leaks');
  await block(page, analysisKey).locator('.signoff-button[data-decision=reject]').click();
  await page.waitForFunction(key => document.querySelector(`.signoff[data-analysis="${key}"]`).dataset.state === 'rejected', analysisKey);
  entries = ledger();
  check(entries.length === 2 && entries[1].analysis === analysisKey && entries[1].decision === 'reject', 'an analysis is rejected on its own',
        JSON.stringify(entries[1]));
  check(await block(page).getAttribute('data-state') === 'accepted', 'the study stays accepted');
  await page.screenshot({path: path.join(shots, 'study_signed_off.png'), fullPage: false});
  await finish(page, 'segmented study');

  // The X-ray study: rejected; a comment without a name is refused in the page.
  page = await open(`${origin}/report/${xray.id}.html`);
  await block(page).locator('.signoff-button[data-decision=reject]').click();
  await page.waitForFunction(() => document.querySelector('.signoff[data-analysis=""]').dataset.state === 'rejected');
  check(ledger().length === 3 && ledger()[2].decision === 'reject' && ledger()[2].study_id === xray.id, 'the X-ray study is rejected');
  await finish(page, 'X-ray study');

  // Back on the batch page: the states as the server has them now.
  page = await open(url);
  const state = id => page.locator(`#studies tr[data-study="${id}"] .review-state`).textContent();
  check(await state(segmented.id) === 'accepted' && await state(xray.id) === 'rejected', 'the batch page shows accepted and rejected');
  check(await count('unreviewed') === rows - 2, 'two fewer unreviewed', `${await count('unreviewed')}`);
  check(Number(await page.locator('#summary-unreviewed').textContent()) === rows - 2, 'and the summary says so');
  await page.check('input[name=show][value=unreviewed]');
  check(await page.locator('#studies tbody tr:not([hidden])').count() === rows - 2, 'the unreviewed filter hides them');
  await page.check('input[name=show][value=all]');
  await page.screenshot({path: path.join(shots, 'batch_page_reviewed.png'), fullPage: false});
  await finish(page, 'batch page again');
  check(problems.length === 0, 'no console errors or dialogs', problems.join(' | '));
} finally {
  await browser.close();
  server.kill('SIGTERM');
}
const code = await new Promise(resolve => (server.exitCode !== null ? resolve(server.exitCode) : server.once('exit', resolve)));
check(code === 0, 'medpipe review ends cleanly on SIGTERM', String(code));
checks.finish();
