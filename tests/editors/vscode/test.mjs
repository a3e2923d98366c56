// End to end in the real VS Code (code-server 4.100.3 = VS Code 1.100.3) with the packaged
// extension and the real server. Three cases (CASE):
// - `c`, the example (examples/hello-c): introduce a compile error, see it, fix it, see the
//   image committed, open a shell in the builder, cancel a build, clean the builder from the
//   Command Palette;
// - `go`, a multi-stage Go project with a distroless final stage (tests/fixtures/editors-go):
//   a compile error in main.go is seen with the failed stage named in the status bar item's
//   tooltip; the fix (and a new message) reaches the final image (`docker run` prints it);
//   Clean Builder removes the stage's builder.
// - `workspace`, a multi-root workspace: a compose folder whose services api (C) and worker
//   (Go) run, and a Go folder. Each save builds its own project only; the status bar item
//   follows the active editor to its project and service; the api's new greeting reaches the
//   running service; Clean Builder cleans the active file's service only.
//
// Environment (set by run.sh): CODE_SERVER, VSIX, SERVER, CASE, PROJECT_DIR, PROJECT_IMAGE,
// RUN_DIR, ARTIFACTS; for `workspace` also SECOND_DIR, COMPOSE_NAME, WORKSPACE_FILE, API_PORT. Exits non-zero on any failure, with a screenshot in ARTIFACTS.

import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { startCodeServer } from './codeServer.mjs';
import { builders, containerExists, fileInContainer, imageConfig, imageExists, imageId, labelled, removeImage, runImage } from './docker.mjs';
import { waitFor } from './wait.mjs';
import { Workbench } from './workbench.mjs';

const env = (name) => process.env[name] ?? fail(`${name} is not set (run this through run.sh)`);
const project = env('PROJECT_DIR');
const image = env('PROJECT_IMAGE');
const artifacts = env('ARTIFACTS');
const testCase = process.env.CASE ?? 'c';
const greet = path.join(project, 'src/greet.c');

// The first `docker build` of the example apt-installs gcc: minutes on a cold machine.
const FIRST_BUILD = 600_000;
const CYCLE = 120_000;

const started = Date.now();
const step = (text) => console.log(`[vscode ${testCase} ${((Date.now() - started) / 1000).toFixed(1)} s] ${text}`);

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

async function scenarioC(wb) {
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

/** The builder the product names for a stage: docker-rebuilder-<folder>-<hash of the path>-<stage>. */
function stageBuilderName(stage) {
  const folder = image.replace(/:latest$/, ''); // the sanitised folder name, as the image's
  const hash = crypto.createHash('sha256').update(project).digest('hex').slice(0, 10);
  return `docker-rebuilder-${folder}-${hash}-${stage}`;
}

async function scenarioGo(wb) {
  const mainGo = path.join(project, 'main.go');
  step('waiting for the first build (status bar: check mark and image id)');
  await wb.waitForStatus('first build succeeded', /^check .*\b[0-9a-f]{12}$/, FIRST_BUILD);
  const firstId = imageId(image);
  // One builder, for the stage that compiles (`build`); the distroless stage has none.
  const builder = stageBuilderName('build');
  const found = builders(project);
  check(found.length === 1 && found[0] === builder, `expected the one builder ${builder}, got ${JSON.stringify(found)}`);
  check(runImage(image) === 'hello from v1', 'the first image should print hello from v1');
  step(`first build done: image ${image}, builder ${builder}`);

  step('opening main.go and breaking line 8: fmt.Println(message) → fmt.Println(message, nope)');
  await wb.openFile('main.go');
  await breakMainGo(wb, mainGo);

  step('waiting for the error: squiggle, problem counter, Problems row at line 8, status failed');
  await waitFor('a red squiggle in the editor', CYCLE, async () => (await wb.squiggles()) > 0);
  await waitFor('the problem counter to show 1 error', CYCLE, async () => (await wb.problemCounts()).errors === 1);
  // go build: ./main.go:8:23: undefined: nope
  const rows = await waitFor('a Problems row for nope at line 8', CYCLE, async () => {
    const texts = await wb.problemRows();
    return texts.some((t) => /undefined: nope/.test(t) && /\[Ln 8, Col 23\]/.test(t)) ? texts : false;
  });
  step(`Problems panel: ${JSON.stringify(rows)}`);
  const failedText = await wb.waitForStatus('build failed', /^error \| Build failed: 1 error/, CYCLE);
  check(/· stage build$/.test(failedText), `the status bar item should name the failed stage: ${failedText}`);
  step(`status bar: ${failedText}`);
  // The failed stage, as a user sees it: hovering the status bar item.
  const tooltip = await waitFor('the status bar tooltip to name the failed stage', CYCLE, async () => {
    const text = await wb.statusTooltip();
    return /stage build: /.test(text) ? text : false;
  });
  step(`status bar tooltip: ${JSON.stringify(tooltip)}`);
  check(tooltip.includes(image), `the tooltip should name the image ${image}: ${tooltip}`);
  check(imageId(image) === firstId, 'a failed build must not commit the image');
  await wb.screenshot(path.join(artifacts, 'vscode-go-1-error.png'));
  await wb.unhover();

  step('fixing line 8, changing the message to v2 (line 5) and saving');
  await fixMainGo(wb, mainGo, 'hello from v2');

  step('waiting for the fix: no squiggle, no problems, status succeeded with a new image id');
  const okText = await wb.waitForStatus('rebuilt', /^check .*\b[0-9a-f]{12}$/, CYCLE);
  await waitFor('the squiggle to go', CYCLE, async () => (await wb.squiggles()) === 0);
  await waitFor('the problem counter to show 0 errors', CYCLE, async () => (await wb.problemCounts()).errors === 0);
  const newId = imageId(image);
  check(newId !== firstId, 'a clean build must commit a new image');
  const shown = okText.match(/([0-9a-f]{12})$/)[1];
  check(newId.replace('sha256:', '').startsWith(shown), `status bar shows ${shown}, image is ${newId}`);
  const printed = runImage(image);
  check(printed === 'hello from v2', `docker run --rm ${image} should print hello from v2, printed ${JSON.stringify(printed)}`);
  // The final stage, not the build stage: distroless config, no Go toolchain inside.
  const config = imageConfig(image);
  check(config.user === 'nonroot:nonroot' && JSON.stringify(config.entrypoint) === '["/app"]', `the final stage's config: ${JSON.stringify(config)}`);
  check(config.size < 50e6, `the image should be the distroless stage, not the toolchain: ${config.size} bytes`);
  step(`status bar: ${okText}; image ${firstId.slice(7, 19)} → ${newId.slice(7, 19)}; docker run: ${printed}`);
  await wb.screenshot(path.join(artifacts, 'vscode-go-2-fixed.png'));

  step('dockerRebuilder.rebuildOnSave = false: a save builds nothing, Rebuild Now does');
  await changeServerSetting(wb, 'dockerRebuilder.rebuildOnSave', false);
  // The new server's first look may have synced .vscode/settings.json (a context file).
  const manualId = imageId(image);
  await wb.focusEditor();
  await wb.goTo(5, 1);
  await wb.page.keyboard.press('End');
  await wb.page.keyboard.press('ArrowLeft'); // before the closing quote
  await wb.page.keyboard.press('Backspace');
  await wb.page.keyboard.type('3');
  await wb.save();
  await waitFor('main.go saved with v3', CYCLE, () => fs.readFileSync(mainGo, 'utf8').includes('const message = "hello from v3"\n'));
  await new Promise((r) => setTimeout(r, 5000));
  const quiet = await wb.statusText();
  check(imageId(image) === manualId && quiet.endsWith(manualId.replace('sha256:', '').slice(0, 12)),
    `a save with rebuildOnSave off must not build (status bar: ${quiet})`);
  check(runImage(image) === 'hello from v2', 'the image must still run v2');
  await wb.runCommand('Docker Rebuilder: Rebuild Now');
  await waitFor('Rebuild Now to commit v3', CYCLE, () => imageId(image) !== manualId && runImage(image) === 'hello from v3');
  const v3Id = imageId(image);
  await changeServerSetting(wb, 'dockerRebuilder.rebuildOnSave', true);

  step('Command Palette: Docker Rebuilder: Full Rebuild (a fresh docker build)');
  await wb.runCommand('Docker Rebuilder: Full Rebuild');
  const fullText = await waitFor('the full build to make a new image', CYCLE, async () => {
    const text = await wb.statusText();
    return /^check .*\b[0-9a-f]{12}$/.test(text) && imageId(image) !== v3Id ? text : false;
  });
  check(runImage(image) === 'hello from v3', 'the full build keeps the code');
  const fullTip = await waitFor('the status bar tooltip to say a full build made the image', CYCLE, async () => {
    const text = await wb.statusTooltip();
    return /image built/.test(text) ? text : false;
  });
  await wb.unhover();
  step(`status bar: ${fullText}; ${fullTip.split('\n').filter((l) => /image built/.test(l))[0]}`);

  step('Command Palette: Docker Rebuilder: Restart Server (a new server process)');
  const before = serverPids();
  check(before.length === 1, `one server should run: ${before.join(', ')}`);
  await wb.runCommand('Docker Rebuilder: Restart Server');
  const after = await waitFor('a new server process', CYCLE, () => {
    const pids = serverPids();
    return pids.length === 1 && pids[0] !== before[0] ? pids : false;
  });
  await wb.waitForStatus('the new server up to date', /^check .*\b[0-9a-f]{12}$/, CYCLE);
  step(`server ${before[0]} → ${after[0]}`);
  await wb.screenshot(path.join(artifacts, 'vscode-go-restarted.png'));

  const lastId = imageId(image);
  step(`Command Palette: Docker Rebuilder: Clean Builder (builder ${builder})`);
  await wb.runCommand('Docker Rebuilder: Clean Builder');
  await waitFor(`the builder ${builder} to be removed`, CYCLE, () => !containerExists(builder));
  await wb.page.locator('.notifications-toasts', { hasText: `Removed the builder ${builder}` }).waitFor({ timeout: CYCLE });
  const left = labelled(project);
  check(left.length === 0, `containers labelled with the project remain: ${left.join(', ')}`);
  check(imageId(image) === lastId, 'clean keeps the image');
  await wb.screenshot(path.join(artifacts, 'vscode-go-3-cleaned.png'));

  step(`removing the image ${image}`);
  removeImage(image);
  check(!imageExists(image), `the image ${image} is still there`);
}

/** The body of the compose API's answer to `GET /` on API_PORT, or '' when nothing answers. */
function apiAnswer() {
  return new Promise((resolve) => {
    const socket = net.connect(Number(env('API_PORT')), '127.0.0.1');
    let response = '';
    socket.setTimeout(5000, () => socket.destroy());
    socket.on('connect', () => socket.write('GET / HTTP/1.0\r\nHost: localhost\r\n\r\n'));
    socket.on('data', (chunk) => (response += chunk));
    socket.on('error', () => resolve(''));
    socket.on('close', () => resolve((response.split('\r\n\r\n')[1] ?? '').trim()));
  });
}

/** Breaks line 8 of the open main.go (`fmt.Println(message, nope)`) and saves. */
async function breakMainGo(wb, file) {
  await wb.goTo(8, 1);
  await wb.page.keyboard.press('End');
  await wb.page.keyboard.press('ArrowLeft'); // before the closing parenthesis
  await wb.page.keyboard.type(', nope');
  await wb.save();
  await waitFor(`${file} saved with the error`, CYCLE, () => fs.readFileSync(file, 'utf8').includes('\tfmt.Println(message, nope)\n'));
}

/** Turns the open server.c's check after listen() (line 28, `… listen(server, 16) != 0) {`)
 * from `from` to `to` and saves: with `==` the server gives up at once ("listen on 8080"). */
async function flipListenCheck(wb, file, from, to) {
  await wb.goTo(28, 1);
  await wb.page.keyboard.press('End');
  for (let i = 0; i < ' 0) {'.length; i++) {
    await wb.page.keyboard.press('ArrowLeft');
  }
  await wb.page.keyboard.press('Backspace');
  await wb.page.keyboard.press('Backspace');
  await wb.page.keyboard.type(to);
  await wb.save();
  await waitFor(`${file} saved with ${to}`, CYCLE, () => fs.readFileSync(file, 'utf8').includes(`listen(server, 16) ${to} 0) {`));
}

/** Undoes breakMainGo, turns the message's `v1` into `v2` (line 5) and saves; `message`:
 * the whole new message, when the caller knows it. */
async function fixMainGo(wb, file, message) {
  await wb.goTo(8, 1);
  await wb.page.keyboard.press('End');
  await wb.page.keyboard.press('ArrowLeft');
  for (let i = 0; i < ', nope'.length; i++) {
    await wb.page.keyboard.press('Backspace');
  }
  await wb.goTo(5, 1);
  await wb.page.keyboard.press('End');
  await wb.page.keyboard.press('ArrowLeft'); // before the closing quote
  await wb.page.keyboard.press('Backspace');
  await wb.page.keyboard.type('2');
  await wb.save();
  await waitFor(`${file} saved with the fix and v2`, CYCLE, () => {
    const text = fs.readFileSync(file, 'utf8');
    const v2 = message ? text.includes(`const message = "${message}"\n`) : /const message = ".* v2"\n/.test(text);
    return text.includes('\tfmt.Println(message)\n') && v2;
  });
}

/** A multi-root workspace: a compose folder (services api and worker, running) and a Go folder.
 * Each file's save reaches its own project, and the status bar item follows the active editor. */
async function scenarioWorkspace(wb) {
  const goDir = env('SECOND_DIR');
  const compose = env('COMPOSE_NAME');
  const apiImage = `${compose}_api`;
  const workerImage = `${compose}_worker`;
  const appGo = path.join(goDir, 'main.go');
  const workerGo = path.join(project, 'worker', 'main.go');
  const greeting = path.join(project, 'api', 'src', 'greeting.c');
  const apiLabel = `${project}/api#api`;
  const workerLabel = `${project}/worker#worker`;

  step('waiting for the first looks: a builder each for api, worker (compose) and the Go folder');
  await waitFor('the three builders', FIRST_BUILD, () =>
    builders(apiLabel).length === 1 && builders(workerLabel).length === 1 && builders(goDir).length === 1);
  await waitFor('the API to answer', CYCLE, async () => /hello from version 1/.test(await apiAnswer()));
  check(runImage(workerImage) === 'worker v1', 'the worker image should print worker v1');

  step('the Go folder: opening its main.go; the status bar speaks for its image');
  await wb.openFile('main.go', path.basename(goDir));
  await wb.waitForStatus('the Go folder built', /^check .*\b[0-9a-f]{12}$/, FIRST_BUILD);
  const goTip = await wb.statusTooltip();
  check(goTip.includes(image) && !/service/.test(goTip), `the tooltip should name ${image} and no service: ${goTip}`);
  await wb.unhover();
  const goFirst = imageId(image);
  const apiFirst = imageId(apiImage);
  const workerFirst = imageId(workerImage);

  step('the Go folder: breaking main.go; the error is its own, the compose images are untouched');
  await breakMainGo(wb, appGo);
  const goFailed = await wb.waitForStatus('the Go folder failed', /^error \| Build failed: 1 error/, CYCLE);
  check(!/: Build failed/.test(goFailed.replace(/^error \| /, '')), `a folder project names no service: ${goFailed}`);
  await waitFor('a Problems row for nope at line 8', CYCLE, async () =>
    (await wb.problemRows()).some((t) => /undefined: nope/.test(t) && /\[Ln 8, Col 23\]/.test(t)));
  check(imageId(image) === goFirst, 'a failed build must not commit the image');

  step('the compose worker: its main.go in another tab; the status bar follows to the worker');
  await wb.openFile('main.go', 'worker');
  const workerOk = await wb.waitForStatus('the worker built', /^check .*\b[0-9a-f]{12}$/, CYCLE);
  const workerTip = await wb.statusTooltip();
  check(/service worker/.test(workerTip), `the tooltip should name the service worker: ${workerTip}`);
  await wb.unhover();
  step(`status bar on worker/main.go: ${workerOk}`);

  step('the compose worker: breaking it; the status bar names the service');
  await breakMainGo(wb, workerGo);
  const workerFailed = await wb.waitForStatus('the worker failed', /^error \| worker: Build failed: 1 error/, CYCLE);
  step(`status bar: ${workerFailed}`);
  await waitFor('the problem counter to show 2 errors (one per main.go)', CYCLE, async () => (await wb.problemCounts()).errors === 2);
  check(imageId(workerImage) === workerFirst && imageId(apiImage) === apiFirst, 'a failed build must not commit an image');
  await wb.screenshot(path.join(artifacts, 'vscode-workspace-1-errors.png'));

  step('the compose api: greeting.c in another tab; the status bar shows the api, not the worker');
  await wb.openFile('greeting.c');
  const apiFirstText = await wb.waitForStatus('the api built', /^check .*\b[0-9a-f]{12}$/, CYCLE);
  const apiFirstTip = await wb.statusTooltip();
  check(/service api/.test(apiFirstTip), `the tooltip should name the service api: ${apiFirstTip}`);
  await wb.unhover();
  step(`status bar on greeting.c: ${apiFirstText}`);
  await wb.openFile('main.go', 'worker');
  await wb.waitForStatus('the worker still failed', /^error \| worker: Build failed: 1 error/, CYCLE);

  step('the compose worker: fixing it (worker v2); its image runs the fix, the Go folder still fails');
  await fixMainGo(wb, workerGo);
  await wb.waitForStatus('the worker rebuilt', /^check .*\b[0-9a-f]{12}$/, CYCLE);
  await waitFor('the worker image to print worker v2', CYCLE, () => imageId(workerImage) !== workerFirst && runImage(workerImage) === 'worker v2');
  await waitFor('the problem counter to show 1 error (the Go folder\'s)', CYCLE, async () => (await wb.problemCounts()).errors === 1);
  check(imageId(image) === goFirst && imageId(apiImage) === apiFirst, 'the worker\'s fix must build only the worker');

  step('the Go folder: back to its tab, the status bar says it failed; fixing it (hello from v2)');
  await wb.openFile('main.go', path.basename(goDir));
  await wb.waitForStatus('the Go folder still failed', /^error \| Build failed: 1 error/, CYCLE);
  await fixMainGo(wb, appGo);
  await wb.waitForStatus('the Go folder rebuilt', /^check .*\b[0-9a-f]{12}$/, CYCLE);
  await waitFor('the Go image to print hello from v2', CYCLE, () => imageId(image) !== goFirst && runImage(image) === 'hello from v2');
  await waitFor('the problem counter to show 0 errors', CYCLE, async () => (await wb.problemCounts()).errors === 0);

  step('the compose api: a new greeting in api/src/greeting.c reaches the running service');
  await wb.openFile('greeting.c');
  await wb.goTo(4, 1);
  await wb.page.keyboard.press('End');
  for (let i = 0; i < 'version 1";'.length; i++) {
    await wb.page.keyboard.press('Backspace');
  }
  await wb.page.keyboard.type('VS Code";');
  await wb.save();
  await waitFor('greeting.c saved', CYCLE, () => fs.readFileSync(greeting, 'utf8').includes('return "hello from VS Code";'));
  await waitFor('the running API to answer the new greeting', CYCLE, async () => /hello from VS Code/.test(await apiAnswer()));
  const apiOk = await wb.waitForStatus('the api rebuilt', /^check .*\b[0-9a-f]{12}$/, CYCLE);
  const apiTip = await wb.statusTooltip();
  check(/service api/.test(apiTip), `the tooltip should name the service api: ${apiTip}`);
  await wb.unhover();
  step(`status bar on greeting.c: ${apiOk}; the API answers ${JSON.stringify(await apiAnswer())}`);
  await wb.screenshot(path.join(artifacts, 'vscode-workspace-2-fixed.png'));

  step('the compose api: a server that exits at start builds; the status bar says the service is down');
  const server = path.join(project, 'api', 'src', 'server.c');
  await wb.openFile('server.c');
  await flipListenCheck(wb, server, '!=', '==');
  const down = await wb.waitForStatus('the api down', /^error \| api: Service down/, CYCLE);
  const downTip = await wb.statusTooltip();
  check(/exited with code 1/.test(downTip) && /listen on 8080/.test(downTip), `the tooltip should say how it ended: ${downTip}`);
  await wb.unhover();
  step(`status bar: ${down}`);
  await wb.screenshot(path.join(artifacts, 'vscode-workspace-3-down.png'));

  step('the compose api: the fix brings the service back');
  await flipListenCheck(wb, server, '==', '!=');
  await wb.waitForStatus('the api back', /^check .*\b[0-9a-f]{12}$/, CYCLE);
  await waitFor('the API to answer again', CYCLE, async () => /hello from VS Code/.test(await apiAnswer()));

  step('Clean Builder with greeting.c active: the api\'s builder goes, the others stay');
  await wb.openFile('greeting.c');
  const [apiBuilder] = builders(apiLabel);
  await wb.runCommand('Docker Rebuilder: Clean Builder');
  await waitFor(`the builder ${apiBuilder} to be removed`, CYCLE, () => !containerExists(apiBuilder));
  check(builders(workerLabel).length === 1 && builders(goDir).length === 1, 'cleaning the api must leave the other builders');

  step('the compose file: the worker now built as the api is (build: ./api); its status goes with its session');
  const override = path.join(project, 'docker-compose.override.yml');
  await wb.openFile('docker-compose.override.yml');
  await wb.goTo(4, 1);
  await wb.page.keyboard.press('End');
  for (let i = 0; i < 'worker'.length; i++) {
    await wb.page.keyboard.press('Backspace');
  }
  await wb.page.keyboard.type('api');
  await wb.save();
  await waitFor('the override saved', CYCLE, () => fs.readFileSync(override, 'utf8').includes('    build: ./api\n'));
  await wb.openFile('main.go', 'worker');
  // No service builds from worker/ now: the item speaks for the project heard from last (the
  // api, whose session started again with the worker as its twin), never for the worker.
  const regrouped = await waitFor('the status bar on worker/main.go to speak for the api', CYCLE, async () => {
    const tip = await wb.statusTooltip();
    await wb.unhover();
    return /service api/.test(tip) && tip;
  });
  check(!/service worker/.test(regrouped), `the worker's stopped session must not be shown: ${regrouped}`);
  step(`status bar tooltip on worker/main.go: ${JSON.stringify(regrouped.split('\n')[0])}`);
}

const scenarios = { c: scenarioC, go: scenarioGo, workspace: scenarioWorkspace };

/** The running code-server (its settings file is changed by the Go case). */
let codeServer;

/** Sets one workspace setting (the folder's .vscode/settings.json, as the Settings editor's
 * Workspace tab writes it; VS Code applies a change to it at once). */
function setSetting(key, value) {
  const file = path.join(project, '.vscode', 'settings.json');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const settings = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : {};
  settings[key] = value;
  fs.writeFileSync(file, JSON.stringify(settings, null, 2));
}

/** Changes a setting that restarts the server, and waits for the new one to be up to date. */
async function changeServerSetting(wb, key, value) {
  const before = serverPids();
  check(before.length === 1, `one server should run before ${key} changes: ${JSON.stringify(before)}`);
  setSetting(key, value);
  await waitFor(`a new server after ${key} changed`, CYCLE, () => {
    const pids = serverPids();
    return pids.length === 1 && pids[0] !== before[0];
  });
  await wb.waitForStatus('the new server up to date', /^check .*\b[0-9a-f]{12}$/, CYCLE);
}

/** The pids of docker-rebuilder language servers started from SERVER. */
function serverPids() {
  const server = env('SERVER');
  return fs
    .readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((pid) => {
      try {
        const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        return argv[0] === server && argv.includes('lsp');
      } catch {
        return false;
      }
    });
}

/** The first match of `re` in the text files under `dir` (code-server's logs are there). */
function grepTree(dir, re) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory() && !['chromium', 'extensions', 'node_modules'].includes(entry.name)) {
      const found = grepTree(full, re);
      if (found) return found;
    } else if (entry.isFile() && entry.name.endsWith('.log')) {
      const found = fs.readFileSync(full, 'utf8').match(re);
      if (found) return found;
    }
  }
  return null;
}

/** The extension's own log files (its output channel, where the server's stderr goes too). */
function extensionLogs(dir) {
  const found = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory() && !['chromium', 'extensions', 'node_modules'].includes(entry.name)) {
      found.push(...extensionLogs(full));
    } else if (entry.isFile() && /Docker Rebuilder.*\.log$/.test(entry.name)) {
      found.push(full);
    }
  }
  return found;
}

async function main() {
  const scenario = scenarios[testCase] ?? fail(`unknown CASE ${testCase} (c, go or workspace)`);
  fs.mkdirSync(artifacts, { recursive: true });
  const runDir = env('RUN_DIR');
  codeServer = await startCodeServer({
    bin: env('CODE_SERVER'),
    runDir,
    folder: project,
    workspace: process.env.WORKSPACE_FILE || undefined,
    vsix: env('VSIX'),
    settings: {
      // Case c: no setting, the server bundled in the package (checked in the log below).
      ...(process.env.BUNDLED === '1' ? {} : { 'dockerRebuilder.server.path': env('SERVER') }),
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
    if (process.env.BUNDLED === '1') {
      // No setting named a server and none is on PATH: the extension started its own.
      const said = grepTree(runDir, /Starting (\S+) \(from (\w+)\)/);
      check(said && said[2] === 'bundled' && said[1].includes('/server/docker-rebuilder'),
        `the extension should start the server bundled in the .vsix; its log says: ${said ? said[0] : 'nothing'}`);
      step(`the server came from the package: ${said[1]}`);
    }
    step('PASS');
  } catch (e) {
    const shot = path.join(artifacts, testCase === 'c' ? 'vscode-failure.png' : `vscode-${testCase}-failure.png`);
    await page.screenshot({ path: shot }).catch(() => undefined);
    console.error(`[vscode ${testCase}] FAIL: ${e.message}\n  status bar: ${await wb.statusText().catch(() => '?')}\n  screenshot: ${shot}`);
    // What the server said (cycles, cancels, cleans), to tell a product fault from a race.
    const log = await wb
      .runCommand('Docker Rebuilder: Show Build Log')
      .then(() => wb.outputText())
      .catch((err) => `(the log could not be read: ${err?.message})`);
    console.error(`[vscode ${testCase}] the extension's log, last lines:\n${String(log).split('\n').slice(-80).join('\n')}`);
    // The Output panel may show another channel: its files are kept whole, and their ends shown.
    for (const [i, file] of extensionLogs(runDir).entries()) {
      const kept = path.join(artifacts, `vscode-${testCase}-extension-${i + 1}.log`);
      fs.copyFileSync(file, kept);
      const text = fs.readFileSync(file, 'utf8').split('\n').slice(-60).join('\n');
      console.error(`[vscode ${testCase}] ${kept} (from ${path.relative(runDir, file)}), last lines:\n${text}`);
    }
    process.exitCode = 1;
  } finally {
    await context.close().catch(() => undefined);
    codeServer.stop();
  }
}

await main();
