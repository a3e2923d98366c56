// The Command Palette commands. Those the server owns become workspace/executeCommand
// requests; the rest (log, shell, restart) are the editor's.

import * as vscode from 'vscode';
import { ExecuteCommandRequest, LanguageClient } from 'vscode-languageclient/node';
import { BuildProgress } from './progress';
import { projectArguments } from './project';
import { CleanReply, CycleReply, ServerCommand, StatusReply } from './protocol';
import { openShell } from './shell';

export const Command = {
  rebuild: 'dockerRebuilder.rebuild',
  fullBuild: 'dockerRebuilder.fullBuild',
  clean: 'dockerRebuilder.clean',
  showLog: 'dockerRebuilder.showLog',
  openShell: 'dockerRebuilder.openShell',
  restartServer: 'dockerRebuilder.restartServer',
  cancel: 'dockerRebuilder.cancel',
} as const;

export interface Host {
  /** The running client, or undefined after telling the user why there is none. */
  client(): Promise<LanguageClient | undefined>;
  log: vscode.LogOutputChannel;
  progress: BuildProgress;
  restart(): Promise<void>;
}

export function registerCommands(host: Host): vscode.Disposable[] {
  return [
    vscode.commands.registerCommand(Command.rebuild, () => cycle(host, ServerCommand.rebuild)),
    vscode.commands.registerCommand(Command.fullBuild, () => cycle(host, ServerCommand.fullBuild)),
    vscode.commands.registerCommand(Command.clean, () => clean(host)),
    vscode.commands.registerCommand(Command.showLog, () => host.log.show(true)),
    vscode.commands.registerCommand(Command.openShell, () => shell(host)),
    vscode.commands.registerCommand(Command.restartServer, () => host.restart()),
    vscode.commands.registerCommand(Command.cancel, () => {
      if (!host.progress.cancelAll()) {
        void vscode.window.showInformationMessage('Docker Rebuilder: no build is running.');
      }
    }),
  ];
}

/** Runs a server command for the chosen project; undefined when it failed (already reported). */
async function execute<T>(host: Host, command: string): Promise<T | undefined> {
  const client = await host.client();
  const args = client && (await projectArguments());
  if (!client || !args) {
    return undefined;
  }
  try {
    return (await client.sendRequest(ExecuteCommandRequest.type, { command, arguments: args })) as T;
  } catch (e) {
    void vscode.window.showErrorMessage(`Docker Rebuilder: ${e instanceof Error ? e.message : String(e)}`);
    return undefined;
  }
}

async function cycle(host: Host, command: string): Promise<void> {
  // Progress, diagnostics and the status bar follow the cycle; only a failure needs a word.
  const reply = await execute<CycleReply>(host, command);
  if (reply?.state === 'failed') {
    const show = 'Show Build Log';
    if ((await vscode.window.showWarningMessage(`Docker Rebuilder: ${reply.message}`, show)) === show) {
      host.log.show(true);
    }
  }
}

async function clean(host: Host): Promise<void> {
  const reply = await execute<CleanReply>(host, ServerCommand.clean);
  if (reply) {
    const removed = reply.builderRemoved ? `Removed the builder ${reply.builderRemoved}` : 'There was no builder to remove';
    const images = reply.imagesRemoved.length ? ` and ${reply.imagesRemoved.length} old image(s)` : '';
    void vscode.window.showInformationMessage(`Docker Rebuilder: ${removed}${images}. The image stays.`);
  }
}

async function shell(host: Host): Promise<void> {
  const status = await execute<StatusReply>(host, ServerCommand.status);
  if (!status) {
    return;
  }
  if (!status.builder) {
    void vscode.window.showErrorMessage('Docker Rebuilder: the server did not name the builder container.');
    return;
  }
  openShell(status.builder, status.project);
}
