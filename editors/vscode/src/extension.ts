// Entry point: finds the server, starts the language client, and wires the status bar and
// the commands to it.

import * as vscode from 'vscode';
import { LanguageClient, State } from 'vscode-languageclient/node';
import { createClient } from './client';
import { Command, registerCommands } from './commands';
import { BuildProgress } from './progress';
import { StatusNotification } from './protocol';
import { findServer, reportMissing } from './serverPath';
import { StatusBar } from './statusBar';

// The client the status bar speaks for. A client being stopped on purpose (a restart) is no
// longer it, so its "stopped" state does not paint the status bar red over its successor.
let current: LanguageClient | undefined;
let starting: Promise<LanguageClient | undefined> | undefined;

export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel('Docker Rebuilder', { log: true });
  const statusBar = new StatusBar(Command.showLog);
  const progress = new BuildProgress();
  context.subscriptions.push(log, statusBar);

  const start = async (): Promise<LanguageClient | undefined> => {
    const found = findServer(context.extensionPath);
    if ('missing' in found) {
      statusBar.stopped(found.missing);
      void reportMissing(found.missing);
      return undefined;
    }
    log.info(`Starting ${found.path} (from ${found.from})`);
    statusBar.starting();
    const c = createClient(found.path, log);
    current = c;
    c.onNotification(StatusNotification, (status) => {
      if (c === current) {
        statusBar.update(status);
      }
    });
    c.onDidChangeState((e) => {
      if (e.newState === State.Stopped && c === current) {
        statusBar.stopped('The docker-rebuilder server is not running: see the build log, then "Docker Rebuilder: Restart Server".');
      }
    });
    try {
      await c.start();
      progress.attach(c);
    } catch (e) {
      // The client has already shown its own error; the status bar says it is stopped.
      log.info(`The server did not start: ${e instanceof Error ? e.message : String(e)}`);
      if (c === current) {
        statusBar.stopped(`The docker-rebuilder server did not start (${found.path}). See the build log.`);
      }
    }
    return c.isRunning() && c === current ? c : undefined;
  };

  const stop = async (): Promise<void> => {
    const old = current;
    current = undefined;
    if (old) {
      await old.dispose().catch(() => undefined);
    }
  };

  // Restarts run one after another: a settings file written twice fires two changes, and two
  // overlapping restarts would leave two servers building the same project.
  let restarts: Promise<unknown> = Promise.resolve();

  const host = {
    log,
    progress,
    client: async () => {
      const c = await starting;
      if (!c || !c.isRunning()) {
        const retry = 'Restart Server';
        const choice = await vscode.window.showErrorMessage('Docker Rebuilder: the server is not running.', retry);
        if (choice === retry) {
          await host.restart();
        }
        return undefined;
      }
      return c;
    },
    restart: async () => {
      const next = restarts.then(async () => {
        await stop();
        return start();
      });
      restarts = next.catch(() => undefined);
      starting = next;
      await next;
    },
  };
  context.subscriptions.push(...registerCommands(host));

  // A new server path or arguments take effect at once, without a reload.
  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('dockerRebuilder.server') || e.affectsConfiguration('dockerRebuilder.rebuildOnSave')) {
        void host.restart();
      }
    }),
  );
  starting = start();
}

export async function deactivate(): Promise<void> {
  const last = current;
  current = undefined;
  await last?.dispose();
}
