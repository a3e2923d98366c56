// Which project a command is for: the server takes an optional file or folder URI and, without
// one, uses the only project (or fails listing them).

import * as vscode from 'vscode';

/** The argument list for a server command, or undefined when the user cancelled the choice. */
export async function projectArguments(): Promise<string[] | undefined> {
  const active = vscode.window.activeTextEditor?.document.uri;
  if (active?.scheme === 'file' && vscode.workspace.getWorkspaceFolder(active)) {
    return [active.toString()];
  }
  const folders = vscode.workspace.workspaceFolders ?? [];
  if (folders.length <= 1) {
    return [];
  }
  const folder = await vscode.window.showWorkspaceFolderPick({ placeHolder: 'Which project?' });
  return folder ? [folder.uri.toString()] : undefined;
}
