// The status bar item: the state of the project the user is looking at, fed by the server's
// docker-rebuilder/status notification. Clicking it opens the build log.

import * as path from 'path';
import * as vscode from 'vscode';
import { StatusParams } from './protocol';

export class StatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  /** By project folder and, for a compose service, its name: a compose folder has several. */
  private readonly byProject = new Map<string, StatusParams>();
  private latest: string | undefined;
  /** Whether the server has sent a status yet (until then, the item says it is starting). */
  private heard = false;
  private readonly subscriptions: vscode.Disposable[] = [];

  constructor(showLogCommand: string) {
    this.item = vscode.window.createStatusBarItem('dockerRebuilder.status', vscode.StatusBarAlignment.Left, 10);
    this.item.name = 'Docker Rebuilder';
    this.item.command = showLogCommand;
    this.subscriptions.push(vscode.window.onDidChangeActiveTextEditor(() => this.render()));
    this.starting();
  }

  /** Before the server has said anything. */
  starting(): void {
    this.show('$(sync~spin) Docker Rebuilder', 'Starting the docker-rebuilder server…');
  }

  /** The server is not running (not found, crashed, or stopped). */
  stopped(reason: string): void {
    this.byProject.clear();
    this.latest = undefined;
    this.heard = false;
    this.show('$(circle-slash) Docker Rebuilder', reason, 'statusBarItem.errorBackground');
  }

  update(status: StatusParams): void {
    const key = statusKey(status);
    const known = this.byProject.get(key);
    if (known && known.session > status.session) {
      // A late word of a session that has since been replaced.
      return;
    }
    if (status.state === 'stopped') {
      // No session builds the project any more (a compose service now built with another).
      this.byProject.delete(key);
      if (this.latest === key) {
        this.latest = undefined;
      }
    } else {
      this.byProject.set(key, status);
      this.latest = key;
    }
    this.heard = true;
    this.render();
  }

  private render(): void {
    const status = this.current();
    if (!status) {
      if (this.heard) {
        // Every project the server spoke of has stopped: nothing to speak for.
        this.show('$(package) Docker Rebuilder', 'No project is being built. Click to show the build log.');
      }
      return;
    }
    const tooltip = new vscode.MarkdownString(undefined, true);
    const service = status.service ? ` · service ${status.service}` : '';
    tooltip.appendMarkdown(`**Docker Rebuilder** — ${path.basename(status.project)}${service}\n\n`);
    tooltip.appendMarkdown(`Image: \`${status.image}\``);
    if (status.imageId) {
      tooltip.appendMarkdown(` (\`${shortId(status.imageId)}\`)`);
    }
    if (status.message) {
      tooltip.appendText(`\n\n${status.message}`);
    }
    tooltip.appendMarkdown('\n\nClick to show the build log.');
    switch (status.state) {
      case 'building':
        tooltip.appendMarkdown('\n\n"Docker Rebuilder: Cancel Build" stops it.');
        this.show('$(sync~spin) Building…', tooltip);
        break;
      case 'succeeded': {
        const parts = ['$(check)', formatDuration(status.durationMs)];
        if (status.imageId) {
          parts.push(shortId(status.imageId));
        }
        this.show(parts.filter(Boolean).join(' '), tooltip);
        break;
      }
      case 'failed':
        // What failed, where: the compose service and the stage, when there are several.
        this.show(
          `$(error) ${status.service ? `${status.service}: ` : ''}Build failed: ${plural(status.errors, 'error')}, ` +
            `${plural(status.warnings, 'warning')}${status.stage ? ` · stage ${status.stage}` : ''}`,
          tooltip,
          'statusBarItem.errorBackground',
        );
        break;
      case 'down':
        // The image built, but the service's new container exited: the message says how.
        this.show(
          `$(error) ${status.service ? `${status.service}: ` : ''}Service down` +
            (status.errors > 0 ? `: ${plural(status.errors, 'error')}` : ''),
          tooltip,
          'statusBarItem.errorBackground',
        );
        break;
      case 'error':
        this.show('$(alert) Docker Rebuilder: error', tooltip, 'statusBarItem.errorBackground');
        break;
      default:
        this.show('$(package) Docker Rebuilder', tooltip);
    }
  }

  /** The project of the active editor if it has one (in a compose folder: the service whose
   * build context holds it), else the one heard from last. */
  private current(): StatusParams | undefined {
    const file = vscode.window.activeTextEditor?.document.uri;
    if (file?.scheme === 'file') {
      const owners = [...this.byProject.values()].filter((s) => isInside(file.fsPath, s.context ?? s.project));
      owners.sort((a, b) => (b.context ?? b.project).length - (a.context ?? a.project).length);
      if (owners.length > 0) {
        // Of services sharing one context, the one heard from last.
        const latest = owners.find((s) => statusKey(s) === this.latest);
        return latest && (latest.context ?? latest.project) === (owners[0].context ?? owners[0].project) ? latest : owners[0];
      }
    }
    return this.latest ? this.byProject.get(this.latest) : undefined;
  }

  private show(text: string, tooltip: string | vscode.MarkdownString, background?: string): void {
    this.item.text = text;
    this.item.tooltip = tooltip;
    this.item.backgroundColor = background ? new vscode.ThemeColor(background) : undefined;
    this.item.show();
  }

  dispose(): void {
    this.item.dispose();
    this.subscriptions.forEach((s) => s.dispose());
  }
}

function statusKey(status: StatusParams): string {
  return status.service ? `${status.project}\0${status.service}` : status.project;
}

/** `sha256:3f2a…` → `3f2a1b9c4d5e`, as `docker images` shows it. */
export function shortId(id: string): string {
  return id.replace(/^sha256:/, '').slice(0, 12);
}

function formatDuration(ms?: number | null): string {
  if (ms === undefined || ms === null) {
    return '';
  }
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function isInside(file: string, dir: string): boolean {
  const rel = path.relative(dir, file);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}
