// The study pages' slice viewer in real Chromium (Debian's, driven by playwright-core), opened from
// file:// with WebGL2 on SwiftShader: node viewer_test.mjs BATCH_OUT SCREENSHOT_DIR.
// BATCH_OUT is what the ViewerBatch test wrote. Exits 77 (skipped) without node_modules or chromium.
import fs from 'node:fs';
import path from 'node:path';
import {pathToFileURL} from 'node:url';
import {chromiumOrSkip, launchChromium, makeChecks} from './browser_support.mjs';

const [batch, shots] = process.argv.slice(2).map(arg => arg && path.resolve(arg));
if (!batch || !shots) {
  console.error('usage: node viewer_test.mjs BATCH_OUT SCREENSHOT_DIR');
  process.exit(2);
}
const chromium = chromiumOrSkip();
fs.mkdirSync(shots, {recursive: true});

const checks = makeChecks();
const check = checks.check;

// Each study page by what it shows: the one with a mask (hippocampus), the CT, the oblique MR, an X-ray
// with its heat map, and the series with two segmentations (when the batch has one).
const pages = fs.readdirSync(path.join(batch, 'report')).filter(name => name.endsWith('.html'))
  .map(name => ({name, file: path.join(batch, 'report', name), html: fs.readFileSync(path.join(batch, 'report', name), 'utf8')}));
const find = test => pages.find(page => test(page.html));
const masked = find(html => html.includes('class="viewer-legend"') && html.includes('HippoCrop'));
const ct = find(html => html.includes('class="viewer"') && html.includes('CT brain'));
const oblique = find(html => html.includes('class="viewer"') && html.includes('T1 head'));
// An X-ray the model called positive, whose heat map has heat (the negative one's map is all 0).
const xray = find(html => html.includes('class="viewer-heat"') && html.includes('viewer-finding-class">pneumonia (positive)'));
const layered = find(html => (html.match(/class="viewer-legend"/g) || []).length >= 2);
check(masked && ct && oblique && xray, 'the batch has a segmented, a CT, an MR and an X-ray page with a heat map');
if (!(masked && ct && oblique && xray)) process.exit(1);

const browser = await launchChromium(chromium);

// Opens PAGE from file://, collecting console errors and CSP violations; waits for its viewers.
async function open(file) {
  const page = await browser.newPage({viewport: {width: 1280, height: 1000}});
  const problems = [];
  page.on('console', message => { if (message.type() === 'error') problems.push('console: ' + message.text()); });
  page.on('pageerror', error => problems.push('page error: ' + error.message));
  await page.addInitScript(() => {
    window.cspViolations = [];
    document.addEventListener('securitypolicyviolation', event =>
      window.cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`));
  });
  await page.goto(pathToFileURL(file).href);
  await page.waitForFunction(() => [...document.querySelectorAll('.viewer')].every(v => v.dataset.ready), null, {timeout: 60000});
  return {page, problems};
}

// The viewer's canvas as drawn now: its pixels' sum, how many are coloured (channels more than 60 apart:
// not grey), and per RGB colour given, how many pixels are within 12 of it in every channel.
const pixels = (page, colours = []) => page.evaluate(colours => {
  const viewer = Object.values(window.medpipeViewers)[0];
  const gl = viewer.nv.gl;
  viewer.nv.drawScene();
  const width = gl.drawingBufferWidth, height = gl.drawingBufferHeight;
  const data = new Uint8Array(width * height * 4);
  gl.readPixels(0, 0, width, height, gl.RGBA, gl.UNSIGNED_BYTE, data);
  let sum = 0, coloured = 0;
  const counts = colours.map(() => 0);
  for (let i = 0; i < data.length; i += 4) {
    sum += data[i] + data[i + 1] + data[i + 2];
    if (Math.max(data[i], data[i + 1], data[i + 2]) - Math.min(data[i], data[i + 1], data[i + 2]) > 60) ++coloured;
    colours.forEach((c, k) => {
      if (Math.abs(data[i] - c[0]) <= 12 && Math.abs(data[i + 1] - c[1]) <= 12 && Math.abs(data[i + 2] - c[2]) <= 12) ++counts[k];
    });
  }
  return {sum, coloured, counts};
}, colours);

const slice = page => page.evaluate(() => Number(document.querySelector('.viewer').dataset.slice));
const finish = async ({page, problems}, name) => {
  const violations = await page.evaluate(() => window.cspViolations);
  check(problems.length === 0, `${name}: no console errors`, problems.join(' | '));
  check(violations.length === 0, `${name}: no Content-Security-Policy violations`, violations.join(' | '));
  await page.close();
};

try {
  // The segmented MR (hippocampus): scrolling, overlay, labels, jump.
  {
    const opened = await open(masked.file);
    const {page} = opened;
    check(await page.evaluate(() => document.querySelector('.viewer').dataset.ready) === 'true', 'segmented: the viewer started');
    const layers = await page.evaluate(() => JSON.parse(document.querySelector('.viewer-config').textContent).layers);
    const labels = layers[0].labels;
    const colours = labels.map(label => label.colour);
    await page.selectOption('.viewer-layout', 'axial');
    // The first segmentation alone (another model's labels would blend with its colours).
    for (let other = 1; other < layers.length; ++other) await page.locator(`.viewer-layer[data-layer="${other}"]`).uncheck();
    await page.locator('.viewer-opacity[data-layer="0"]').fill('100');
    await page.locator('.viewer-slice').fill('0');
    let before = {slice: await slice(page), pixels: await pixels(page, colours)};
    check(before.slice === 0, 'slider to 0 shows slice 0', String(before.slice));

    await page.locator('.viewer-canvas').focus();
    await page.keyboard.press('ArrowUp');
    await page.keyboard.press('ArrowUp');
    let after = {slice: await slice(page), pixels: await pixels(page, colours)};
    check(after.slice === before.slice + 2, 'two ArrowUp presses move two slices', `${before.slice} -> ${after.slice}`);
    check(after.pixels.sum !== before.pixels.sum, 'and change the pixels');

    before = after;
    const box = await page.locator('.viewer-canvas').boundingBox();
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    for (let i = 0; i < 3; ++i) { await page.mouse.wheel(0, -120); await page.waitForTimeout(100); }
    after = {slice: await slice(page), pixels: await pixels(page, colours)};
    check(after.slice !== before.slice, 'the wheel changes the slice', `${before.slice} -> ${after.slice}`);
    check(after.pixels.sum !== before.pixels.sum, 'and the pixels');

    const middle = Math.floor(Number(await page.locator('.viewer-slice').getAttribute('max')) / 2);
    await page.locator('.viewer-slice').fill(String(middle));
    after = {slice: await slice(page), pixels: await pixels(page, colours)};
    check(after.slice === middle, 'the slider shows the slice it is set to', `${middle}: ${after.slice}`);

    // Jump to each label: the crosshair lands on its centroid, and its colour shows on that axial slice.
    for (const label of labels) {
      await page.locator('.viewer-slice').fill('0');
      await page.click(`.viewer-jump[data-layer="0"][data-label="${label.value}"]`);
      const at = await page.evaluate(() => {
        const {nv} = Object.values(window.medpipeViewers)[0];
        return Array.from(nv.frac2mm(nv.scene.crosshairPos)).slice(0, 3);
      });
      const [x, y, z] = label.centroid_lps_mm;
      const distance = Math.hypot(at[0] + x, at[1] + y, at[2] - z);
      const shown = await pixels(page, colours);
      check(distance < 1.5, `jump to ${label.name} puts the crosshair on its centroid`, `${distance.toFixed(2)} mm away, slice ${await slice(page)}`);
      check(shown.counts[labels.indexOf(label)] > 20, `${label.name}'s colour shows after the jump`, String(shown.counts));
    }

    // Overlay toggle and per-label visibility, on the slice of the last jump (both labels' colours there or not).
    await page.click(`.viewer-jump[data-layer="0"][data-label="${labels[0].value}"]`);
    const shown = await pixels(page, colours);
    await page.locator('.viewer-layer[data-layer="0"]').uncheck();
    const off = await pixels(page, colours);
    check(off.counts.every(count => count === 0), 'the overlay toggle hides the mask', `${shown.counts} -> ${off.counts}`);
    await page.locator('.viewer-layer[data-layer="0"]').check();
    const on = await pixels(page, colours);
    check(on.counts[0] === shown.counts[0], 'and shows it again', `${on.counts}`);
    await page.locator(`.viewer-label[data-layer="0"][data-label="${labels[0].value}"]`).uncheck();
    const hidden = await pixels(page, colours);
    check(hidden.counts[0] === 0, `hiding ${labels[0].name} removes its colour`, `${shown.counts} -> ${hidden.counts}`);
    // Within 1 %: pixels where the two labels touch blend.
    check(Math.abs(hidden.counts[1] - shown.counts[1]) <= shown.counts[1] / 100, `and leaves ${labels[1].name}'s`, `${shown.counts[1]} -> ${hidden.counts[1]}`);
    await page.locator(`.viewer-label[data-layer="0"][data-label="${labels[0].value}"]`).check();

    await page.selectOption('.viewer-layout', 'multiplanar');
    await page.locator('.viewer-opacity[data-layer="0"]').fill('50');
    for (let other = 1; other < layers.length; ++other) await page.locator(`.viewer-layer[data-layer="${other}"]`).check();
    await page.waitForTimeout(300);
    await page.screenshot({path: path.join(shots, 'mr_hippocampus.png'), fullPage: false});
    await finish(opened, 'segmented');
  }

  // The CT: window presets change the pixels.
  {
    const opened = await open(ct.file);
    const {page} = opened;
    await page.selectOption('.viewer-layout', 'axial');
    const sums = {};
    for (const button of await page.locator('.viewer-window').all()) {
      await button.click();
      sums[await button.textContent()] = (await pixels(page)).sum;
    }
    const distinct = new Set(Object.values(sums)).size;
    check(distinct === Object.keys(sums).length, 'each CT window preset draws different pixels', JSON.stringify(sums));
    await page.click('.viewer-window[data-window="0"]');
    await page.selectOption('.viewer-layout', 'multiplanar');
    await page.waitForTimeout(300);
    await page.screenshot({path: path.join(shots, 'ct.png')});
    await finish(opened, 'CT');
  }

  // The MR turned 20 degrees: the page says it is oblique.
  {
    const opened = await open(oblique.file);
    const warning = opened.page.locator('.viewer-oblique');
    check(await warning.isVisible(), 'the oblique MR shows its warning', await warning.textContent());
    await opened.page.screenshot({path: path.join(shots, 'mr_oblique.png')});
    await finish(opened, 'oblique MR');
  }
  {
    const opened = await open(ct.file);
    check(!(await opened.page.locator('.viewer-oblique').isVisible()), 'the axial CT shows no oblique warning');
    await finish(opened, 'CT again');
  }

  // Two segmentations of one series: each its own layer, drawn and toggled independently.
  if (!layered) {
    console.log('SKIP two segmentations: no series has two (the ViewerBatch imports one from ../shared/data/nnunet)');
  } else {
    const opened = await open(layered.file);
    const {page} = opened;
    const layers = await page.evaluate(() => JSON.parse(document.querySelector('.viewer-config').textContent).layers);
    const colours = layers.map(layer => layer.labels.map(label => label.colour));
    const all = colours.flat();
    check(new Set(all.map(String)).size === all.length, 'the two models\' labels have different colours', JSON.stringify(colours));
    await page.selectOption('.viewer-layout', 'axial');
    for (const index of [0, 1]) await page.locator(`.viewer-opacity[data-layer="${index}"]`).fill('100');
    await page.click(`.viewer-jump[data-layer="0"][data-label="${layers[0].labels[0].value}"]`);
    // Pixels of each layer's colours: [layer 0, layer 1].
    const perLayer = async () => {
      const {counts} = await pixels(page, all);
      return [0, 1].map(index => counts.slice(index === 0 ? 0 : colours[0].length, index === 0 ? colours[0].length : all.length)
                                        .reduce((a, b) => a + b, 0));
    };
    const layer = index => page.locator(`.viewer-layer[data-layer="${index}"]`);
    const both = await perLayer();
    check(both[1] > 20, 'with both layers on, the top one draws', String(both));
    await layer(1).uncheck();
    const first = await perLayer();
    check(first[0] > 20 && first[1] === 0, 'layer 1 off: only the first model\'s colours', String(first));
    await layer(1).check();
    await layer(0).uncheck();
    const second = await perLayer();
    check(second[0] === 0 && second[1] > 20, 'layer 0 off: only the second model\'s colours', String(second));
    await layer(1).uncheck();
    const none = await perLayer();
    check(none[0] === 0 && none[1] === 0, 'both off: no mask colour', String(none));
    await layer(0).check();
    await layer(1).check();
    const again = await perLayer();
    check(again[0] === both[0] && again[1] === both[1], 'both on again draws what it drew', `${both} -> ${again}`);
    await page.selectOption('.viewer-layout', 'multiplanar');
    for (const index of [0, 1]) await page.locator(`.viewer-opacity[data-layer="${index}"]`).fill('50');
    await page.waitForTimeout(300);
    await page.screenshot({path: path.join(shots, 'two_segmentations.png')});
    await finish(opened, 'two segmentations');
  }

  // The X-ray: window/level, the heat map and its colour scale, the decision as result.json has it.
  {
    const opened = await open(xray.file);
    const {page} = opened;
    check(await page.evaluate(() => document.querySelector('.viewer').dataset.ready) === 'true', 'X-ray: the viewer started');
    const study = path.basename(xray.file, '.html');
    const result = JSON.parse(fs.readFileSync(path.join(batch, 'studies', study, 'result.json'), 'utf8'));
    const analysis = result.series.flatMap(series => series.analyses).find(analysis => analysis.decision);
    const decision = analysis.decision;
    const text = selector => page.locator(selector).textContent();
    check(await text('.viewer-finding-class') === `${decision.class} (${decision.result})`, 'the finding is result.json\'s',
          await text('.viewer-finding-class'));
    check(await text('.viewer-finding-probability') === decision.probability.toFixed(2), 'the probability is result.json\'s',
          `${await text('.viewer-finding-probability')} for ${decision.probability}`);
    check(Number(await text('.viewer-finding-threshold')) === Number(decision.threshold.toPrecision(3)),
          'the threshold is result.json\'s', `${await text('.viewer-finding-threshold')} for ${decision.threshold}`);

    const ticks = await page.locator('svg.viewer-scale text').allTextContents();
    check(JSON.stringify(ticks) === JSON.stringify(['0', '0.25', '0.5', '0.75', '1']), 'the colour scale carries its numbers', String(ticks));
    const stops = await page.locator('svg.viewer-scale stop').evaluateAll(stops => stops.map(s => s.getAttribute('stop-color')));
    const heat = await page.evaluate(() => JSON.parse(document.querySelector('.viewer-config').textContent).heat);
    check(stops.length > 2 && JSON.stringify(stops) === JSON.stringify(heat.colours.map(s => `rgb(${s.colour.join(',')})`)),
          'and the colours the viewer draws the map in', String(stops));
    check(await page.locator('svg.viewer-scale').isVisible(), 'the colour scale is shown');

    // The heat map: its colours go with the toggle and come back.
    const on = await pixels(page);
    await page.locator('.viewer-heat-toggle').uncheck();
    const off = await pixels(page);
    await page.locator('.viewer-heat-toggle').check();
    const back = await pixels(page);
    check(on.coloured > 200, 'the heat map colours the image', String(on.coloured));
    check(off.coloured === 0, 'the heat-map toggle removes its colours', `${on.coloured} -> ${off.coloured}`);
    check(back.coloured === on.coloured, 'and brings them back', `${back.coloured}`);
    await page.locator('.viewer-heat-opacity').fill('20');
    check((await pixels(page)).sum !== on.sum, 'the heat map\'s opacity changes the pixels');
    await page.locator('.viewer-heat-opacity').fill('60');

    // Window/level: each preset and a drag draw different grey values (heat map off, to see the image alone).
    await page.locator('.viewer-heat-toggle').uncheck();
    const sums = {};
    for (const button of await page.locator('.viewer-window').all()) {
      await button.click();
      sums[await button.textContent()] = (await pixels(page)).sum;
    }
    check(new Set(Object.values(sums)).size === Object.keys(sums).length, 'each X-ray window preset draws different pixels',
          JSON.stringify(sums));
    await page.click('.viewer-window[data-window="0"]');
    const before = await pixels(page);
    const box = await page.locator('.viewer-canvas').boundingBox();
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.down();
    for (let i = 1; i <= 10; ++i) await page.mouse.move(box.x + box.width / 2 + 8 * i, box.y + box.height / 2 + 5 * i);
    await page.mouse.up();
    const dragged = await pixels(page);
    const state = await page.evaluate(() => ({...document.querySelector('.viewer').dataset}));
    check(state.window === 'dragged' && dragged.sum !== before.sum, 'a drag sets the window and changes the pixels',
          `${state.windowLow} to ${state.windowHigh}: ${before.sum} -> ${dragged.sum}`);
    check(await text('.viewer-window-text') === `${Math.round(state.windowLow)} to ${Math.round(state.windowHigh)}`,
          'and the window text follows it', await text('.viewer-window-text'));
    await page.click('.viewer-window[data-window="0"]');
    await page.locator('.viewer-heat-toggle').check();
    await page.waitForTimeout(300);
    await page.screenshot({path: path.join(shots, 'xray.png')});
    await finish(opened, 'X-ray');
  }
} finally {
  await browser.close();
}
checks.finish();
