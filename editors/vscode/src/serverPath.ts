// Where the server binary is: the setting, else the copy bundled in the extension, else PATH.

import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';

export const BINARY = 'docker-rebuilder';

export type Found = { path: string; from: 'setting' | 'bundled' | 'PATH' };

export function findServer(extensionPath: string): Found | { missing: string } {
  const configured = vscode.workspace.getConfiguration('dockerRebuilder').get<string>('server.path', '').trim();
  if (configured) {
    const resolved = configured.startsWith('~') ? path.join(process.env.HOME ?? '', configured.slice(1)) : configured;
    // A configured path is used as given: a wrong one should fail loudly, not fall back.
    return isExecutable(resolved)
      ? { path: resolved, from: 'setting' }
      : { missing: `The setting dockerRebuilder.server.path points at ${resolved}, which is not an executable file.` };
  }
  const bundled = path.join(extensionPath, 'server', BINARY);
  if (isExecutable(bundled)) {
    return { path: bundled, from: 'bundled' };
  }
  const onPath = searchPath(BINARY);
  if (onPath) {
    return { path: onPath, from: 'PATH' };
  }
  return { missing: `The ${BINARY} binary was not found: it is not bundled with this extension and not on PATH.` };
}

function searchPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, name);
    if (dir && isExecutable(candidate)) {
      return candidate;
    }
  }
  return undefined;
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** Tells the user that the server is missing and how to get it. */
export async function reportMissing(reason: string): Promise<void> {
  const settings = 'Open Settings';
  const choice = await vscode.window.showErrorMessage(
    `Docker Rebuilder: ${reason} Install it (from a docker-rebuilder checkout: ` +
      '`cargo install --path server`, which puts it in ~/.cargo/bin) and make sure it is on PATH, ' +
      'or set "dockerRebuilder.server.path" to the binary. Then run "Docker Rebuilder: Restart Server".',
    settings,
  );
  if (choice === settings) {
    await vscode.commands.executeCommand('workbench.action.openSettings', 'dockerRebuilder.server');
  }
}
