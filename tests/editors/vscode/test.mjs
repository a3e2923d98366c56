// End to end in the real VS Code (code-server 4.100.3 = VS Code 1.100.3) with the packaged
// extension and the real server: introduce a compile error in the example, see it, fix it,
// see the image committed, open a shell in the builder, cancel a build, clean the builder
// from the Command Palette.
//
// Environment (set by run.sh): CODE_SERVER, VSIX, SERVER, PROJECT_DIR, PROJECT_IMAGE, RUN_DIR,
// ARTIFACTS. Exits non-zero on any failure, with a screenshot in ARTIFACTS.

import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { startCodeServer } from './codeServer.mjs';
import { builders, containerExists, fileInContainer, imageId } from './docker.mjs';
import { waitFor } from './wait.mjs';
import { Workbench } from './workbench.mjs';

const env = (name) => process.env[name] ?? fail(`${name} is not set (run this through run.sh)`);
const project = env('PROJECT_DIR');
const image = env('PROJECT_IMAGE');
const artifacts = env('ARTIFACTS');
const greet = path.join(project, 'src/greet.c');

// The first `docker build` of the example apt-installs gcc: minutes on a cold machine.
const FIRST_BUILD = 600_000;
const CYCLE = 120_000;

const started = Date.now();
const step = (text) => console.log(`[vscode ${((Date.now() - started) / 1000).toFixed(1)} s] ${text}`);

function fail(message) {
  throw new Error(message);
}

function check(condition, message) {
  if (!condition) {
    fail(message);
  }
}

/** Makes the next rebuild take a minute (a sleep before linking), so there is time to cancel it. */
function slowDownTheLink() {
  const makefile = path.join(project, 'Makefile');
  const text = fs.readFileSync(makefile, 'utf8');
  const link = '\t$(CC) $(CFLAGS) -o $@ $^';
  check(text.includes(link), 'the example Makefile changed: update slowDownTheLink');
  fs.writeFileSync(makefile, text.replace(link, `\tsleep 60\n${link}`));
  fs.appendFileSync(path.join(project, 'src/main.c'), '/* relink */\n');
}

async function scenario(wb) {
  step('waiting for the first build (status bar: check mark and image id)');
  await wb.waitForStatus('first build succeeded', /^check .*\b[0-9a-f]{12}$/, FIRST_BUILD);
  const firstId = imageId(image);
  const [builder] = builders(project);
  check(builder && containerExists(builder), `no builder container for ${project}`);

  step('opening src/greet.c and breaking line 7: name → nme');
  await wb.openFile('greet.c');
  await wb.goTo(7, 29); // between the n and the a of `name`
  await wb.page.keyboard.press('Delete');
  await wb.save();
  await waitFor('greet.c saved with the error', CYCLE, () => fs.readFileSync(greet, 'utf8').includes('"Hello, %s!\\n", nme);'));

  step('waiting for the error: squiggle, problem counter, Problems row at line 7, status failed');
  await waitFor('a red squiggle in the editor', CYCLE, async () => (await wb.squiggles()) > 0);
  await waitFor('the problem counter to show 1 error', CYCLE, async () => (await wb.problemCounts()).errors === 1);
  const rows = await waitFor('a Problems row for nme at line 7', CYCLE, async () => {
    const texts = await wb.problemRows();
    return texts.some((t) => /nme/.test(t) && /\[Ln 7, Col 28\]/.test(t)) ? texts : false;
  });
  step(`Problems panel: ${JSON.stringify(rows)}`);
  const failedText = await wb.waitForStatus('build failed', /^error \| Build failed: 1 error/, CYCLE);
  step(`status bar: ${failedText}`);
  check(imageId(image) === firstId, 'a failed build must not commit the image');
  await wb.screenshot(path.join(artifacts, 'vscode-1-error.png'));

  step('showing the build log');
  await wb.runCommand('Docker Rebuilder: Show Build Log');
  await waitFor('the build log to show the compiler error', CYCLE, async () => /nme/.test(await wb.outputText()));

  step('fixing line 7 and saving');
  await wb.goTo(7, 29);
  await wb.page.keyboard.type('a');
  await wb.save();
  await waitFor('greet.c saved with the fix', CYCLE, () => fs.readFileSync(greet, 'utf8').includes('"Hello, %s!\\n", name);'));

  step('waiting for the fix: no squiggle, no problems, status succeeded with a new image id');
  const okText = await wb.waitForStatus('rebuilt', /^check .*\b[0-9a-f]{12}$/, CYCLE);
  await waitFor('the squiggle to go', CYCLE, async () => (await wb.squiggles()) === 0);
  await waitFor('the problem counter to show 0 errors', CYCLE, async () => (await wb.problemCounts()).errors === 0);
  const newId = imageId(image);
  check(newId !== firstId, 'a clean build must commit a new image');
  const shown = okText.match(/([0-9a-f]{12})$/)[1];
  check(newId.replace('sha256:', '').startsWith(shown), `status bar shows ${shown}, image is ${newId}`);
  step(`status bar: ${okText}; image ${firstId.slice(7, 19)} → ${newId.slice(7, 19)}`);
  await wb.screenshot(path.join(artifacts, 'vscode-2-fixed.png'));

  step('Command Palette: Docker Rebuilder: Open Shell in Builder; typing a command there');
  await wb.runCommand('Docker Rebuilder: Open Shell in Builder');
  const marker = '/tmp/typed-in-vscode';
  await wb.typeInTerminal(`touch ${marker}; exit`);
  await waitFor('the command typed in the terminal to run in the builder', CYCLE, () => fileInContainer(builder, marker));
  // `exit` closed the terminal and focus went with it; a user clicks back into the editor.
  await wb.focusEditor();

  step('Rebuild Now with a slow build, then Cancel Build from the Command Palette');
  slowDownTheLink();
  await wb.runCommand('Docker Rebuilder: Rebuild Now');
  await wb.waitForStatus('building', /Building/, CYCLE);
  await wb.runCommand('Docker Rebuilder: Cancel Build');
  const idle = await wb.waitForStatus('cancelled: idle', /^package \| Docker Rebuilder$/, 30_000);
  step(`status bar: ${idle}`);
  check(imageId(image) === newId, 'a cancelled build must not commit the image');

  step(`Command Palette: Docker Rebuilder: Clean Builder (builder ${builder})`);
  await wb.runCommand('Docker Rebuilder: Clean Builder');
  await waitFor(`the builder ${builder} to be removed`, CYCLE, () => !containerExists(builder));
  await wb.page.locator('.notifications-toasts', { hasText: 'Removed the builder' }).waitFor({ timeout: CYCLE });
  check(imageId(image) === newId, 'clean keeps the image');
  await wb.screenshot(path.join(artifacts, 'vscode-3-cleaned.png'));
}

async function main() {
  fs.mkdirSync(artifacts, { recursive: true });
  const runDir = env('RUN_DIR');
  const codeServer = await startCodeServer({
    bin: env('CODE_SERVER'),
    runDir,
    folder: project,
    vsix: env('VSIX'),
    settings: {
      'dockerRebuilder.server.path': env('SERVER'),
      'workbench.startupEditor': 'none',
      'workbench.tips.enabled': false,
      'telemetry.telemetryLevel': 'off',
      'extensions.autoCheckUpdates': false,
      'extensions.autoUpdate': false,
      'update.mode': 'none',
    },
  });
  step('code-server is up');
  const context = await chromium.launchPersistentContext(path.join(runDir, 'chromium'), {
    executablePath: '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1400, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const wb = new Workbench(page);
  try {
    await page.goto(codeServer.url);
    await wb.ready();
    step('workbench is up');
    await scenario(wb);
    step('PASS');
  } catch (e) {
    const shot = path.join(artifacts, 'vscode-failure.png');
    await page.screenshot({ path: shot }).catch(() => undefined);
    console.error(`[vscode] FAIL: ${e.message}\n  status bar: ${await wb.statusText().catch(() => '?')}\n  screenshot: ${shot}`);
    process.exitCode = 1;
  } finally {
    await context.close().catch(() => undefined);
    codeServer.stop();
  }
}

await main();
