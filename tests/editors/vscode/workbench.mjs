// What a user does in the VS Code workbench, as Playwright steps: open a file, go to a place,
// type, save, run a command from the palette, read the status bar and the Problems panel.

import { waitFor } from './wait.mjs';

const LONG = 60_000;

export class Workbench {
  constructor(page) {
    this.page = page;
  }

  async ready() {
    await this.page.locator('.monaco-workbench').waitFor({ timeout: LONG });
    await this.page.locator('#workbench\\.parts\\.statusbar').waitFor({ timeout: LONG });
  }

  /** Control+P, type the name, pick the first match; where several files share the name, the
   * match whose row (name and folder) also shows `folder`. */
  async openFile(name, folder) {
    // The list is re-sorted while results arrive (recent files, then the search's): a click can
    // land on a row that has just moved. The breadcrumbs say what opened.
    for (let attempt = 1; ; attempt++) {
      await this.page.keyboard.press('Control+P');
      const input = this.page.locator('.quick-input-widget input');
      await input.waitFor({ timeout: LONG });
      await input.fill(name);
      let row = this.page.locator('.quick-input-list .monaco-list-row', { hasText: name });
      if (folder) {
        row = row.filter({ hasText: folder });
      }
      await row.first().waitFor({ timeout: LONG });
      // Click only once the list stopped changing (the search's results re-sort it).
      const rows = this.page.locator('.quick-input-list .monaco-list-row');
      let seen = '';
      await waitFor('the Quick Open list to settle', LONG, async () => {
        const now = (await rows.allInnerTexts()).join('\n');
        const settled = now === seen;
        seen = now;
        return settled;
      }, 400);
      await row.first().click();
      await this.page.locator('.tabs-container .tab.active', { hasText: name }).waitFor({ timeout: LONG });
      // The breadcrumbs name the file's folders (from the workspace folder's name on).
      const crumbs = this.page.locator('.breadcrumbs-control', { hasText: folder ?? name });
      try {
        await crumbs.first().waitFor({ timeout: attempt < 3 ? 5_000 : LONG });
        return;
      } catch (error) {
        if (attempt >= 3) {
          throw error;
        }
      }
    }
  }

  async focusEditor() {
    await this.page.locator('.editor-instance .monaco-editor .view-lines').first().click();
  }

  /** Focuses the editor and puts the cursor at line:column (1-based) with Go to Line (Control+G). */
  async goTo(line, column) {
    await this.focusEditor();
    await this.page.keyboard.press('Control+G');
    const input = this.page.locator('.quick-input-widget input');
    await input.waitFor({ timeout: LONG });
    // Control+G opens quick open with a ":" prefix (go to line); fill() replaces it, so keep it.
    await input.fill(`:${line}:${column}`);
    await this.page.keyboard.press('Enter');
    await input.waitFor({ state: 'hidden', timeout: LONG });
  }

  async save() {
    // Escape first: a suggestion widget left open by typing must not take the keystroke.
    await this.page.keyboard.press('Escape');
    await this.page.keyboard.press('Control+S');
  }

  /** F1 → type the command's title → Enter, as a user runs "Docker Rebuilder: Clean Builder". */
  async runCommand(title) {
    // The palette can lose focus right after it opens (a terminal closing, a notification):
    // reopen it rather than fail.
    const input = this.page.locator('.quick-input-widget input');
    for (let attempt = 1; ; attempt++) {
      await this.page.keyboard.press('F1');
      try {
        await input.waitFor({ state: 'visible', timeout: 10_000 });
        await input.fill(`>${title}`, { timeout: 10_000 });
        break;
      } catch (error) {
        if (attempt >= 3) {
          throw error;
        }
        await this.page.keyboard.press('Escape');
      }
    }
    await this.page
      .locator('.quick-input-list .monaco-list-row', { hasText: title })
      .first()
      .waitFor({ timeout: LONG });
    await this.page.keyboard.press('Enter');
  }

  /** The text of the Docker Rebuilder status bar item (the one whose tooltip and name are ours). */
  async statusText() {
    const item = this.page.locator('#workbench\\.parts\\.statusbar .statusbar-item[id$="dockerRebuilder.status"]');
    if ((await item.count()) === 0) {
      return '';
    }
    const text = (await item.first().innerText()).trim();
    const icons = await item.first().locator('.codicon').evaluateAll((els) => els.map((e) => e.className));
    return `${icons.map((c) => (c.match(/codicon-([\w-]+)/) ?? [])[1]).join(' ')} | ${text}`;
  }

  /** Hovers the Docker Rebuilder status bar item, as a user does, and returns its tooltip's text. */
  async statusTooltip() {
    const item = this.page.locator('#workbench\\.parts\\.statusbar .statusbar-item[id$="dockerRebuilder.status"]').first();
    const hover = this.page.locator('.monaco-hover:visible, .workbench-hover:visible', { hasText: 'Docker Rebuilder' }).first();
    return waitFor('the status bar item\'s tooltip', LONG, async () => {
      await this.unhover();
      await item.hover();
      await hover.waitFor({ timeout: 5_000 });
      // MarkdownString.appendText turns spaces into non-breaking ones: read them as spaces.
      return (await hover.innerText()).replace(/\u00a0/g, ' ').trim();
    });
  }

  /** Moves the mouse to the empty middle of the status bar, so that a tooltip goes away. */
  async unhover() {
    const bar = await this.page.locator('#workbench\\.parts\\.statusbar').boundingBox();
    await this.page.mouse.move(bar.x + bar.width / 2, bar.y + bar.height / 2);
    await this.page.locator('.monaco-hover:visible, .workbench-hover:visible').first().waitFor({ state: 'hidden', timeout: 5_000 }).catch(() => undefined);
  }

  async waitForStatus(what, pattern, timeoutMs = LONG) {
    return waitFor(`status bar: ${what} (${pattern})`, timeoutMs, async () => {
      const text = await this.statusText();
      if (/^circle-slash/.test(text)) {
        // The extension says the server is not running: waiting longer cannot help.
        throw Object.assign(new Error(`the server is not running (status bar: ${text})`), { fatal: true });
      }
      return pattern.test(text) ? text : false;
    });
  }

  /** The counts in the problems counter's label ("Errors: 1, Warnings: 1" or "No Problems"). */
  async problemCounts() {
    const label = await this.page.locator('#status\\.problems a, #status\\.problems').first().getAttribute('aria-label');
    // With nothing to report, the label is "No Problems" rather than zero counts.
    const none = /No Problems/i.test(label ?? '') ? 0 : NaN;
    const errors = Number((label ?? '').match(/Errors: (\d+)/)?.[1] ?? none);
    const warnings = Number((label ?? '').match(/Warnings: (\d+)/)?.[1] ?? none);
    return { errors, warnings, label };
  }

  async squiggles() {
    return this.page.locator('.editor-instance .monaco-editor .squiggly-error').count();
  }

  /** Opens the Problems panel (Control+Shift+M) and returns its rows' text. */
  async problemRows() {
    const rows = this.page.locator('.markers-panel .monaco-list-row');
    if ((await rows.count()) === 0) {
      await this.page.keyboard.press('Control+Shift+M');
      await this.page.locator('.markers-panel').waitFor({ timeout: LONG });
    }
    return rows.allInnerTexts();
  }

  /** Types a line into the terminal that has just opened (the panel's active one). */
  async typeInTerminal(line) {
    const terminal = this.page.locator('.part.panel .terminal-wrapper.active .xterm');
    await terminal.waitFor({ timeout: LONG });
    await terminal.click();
    await this.page.keyboard.type(line);
    await this.page.keyboard.press('Enter');
  }

  /** The visible lines of the active Output channel. */
  async outputText() {
    return (await this.page.locator('.part.panel .output-view .view-lines, .part.panel .monaco-editor .view-lines').allInnerTexts()).join('\n');
  }

  async screenshot(path) {
    await this.page.screenshot({ path });
  }
}
