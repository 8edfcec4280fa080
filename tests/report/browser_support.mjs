// What the Chromium tests share: playwright-core and Debian's chromium, or exit 77 (skipped) without
// them, and a check() that prints each result and counts failures.
import fs from 'node:fs';
import path from 'node:path';
import {createRequire} from 'node:module';
import {fileURLToPath} from 'node:url';

export const kChromium = '/usr/bin/chromium';
const kSkip = 77;
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

// playwright-core's chromium launcher, or the process ends with 77 saying what is missing.
export function chromiumOrSkip() {
  let chromium;
  try {
    ({chromium} = createRequire(path.join(root, 'package.json'))('playwright-core'));
  } catch {
    console.log('SKIP: playwright-core is not installed (npm ci, as scripts/setup.sh runs it)');
    process.exit(kSkip);
  }
  if (!fs.existsSync(kChromium)) {
    console.log(`SKIP: ${kChromium} is not installed (Debian package chromium)`);
    process.exit(kSkip);
  }
  return chromium;
}

// Debian's chromium with WebGL2 on SwiftShader.
export const launchChromium = chromium => chromium.launch({
  executablePath: kChromium,
  args: ['--use-angle=swiftshader', '--enable-unsafe-swiftshader', '--ignore-gpu-blocklist'],
});

export function makeChecks() {
  const state = {failures: 0};
  state.check = (ok, what, detail = '') => {
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}${detail ? ': ' + detail : ''}`);
    if (!ok) ++state.failures;
  };
  state.finish = () => {
    console.log(state.failures ? `${state.failures} checks failed` : 'all checks passed');
    process.exit(state.failures ? 1 : 0);
  };
  return state;
}
