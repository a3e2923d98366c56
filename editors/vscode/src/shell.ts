// "Open Shell in Builder": an integrated terminal attached to the builder container. The
// editor uses the docker CLI here (the user's own tool); only the server avoids it.

import * as vscode from 'vscode';

export function openShell(builder: string, project: string): vscode.Terminal {
  const terminal = vscode.window.createTerminal({
    name: `Builder: ${builder}`,
    cwd: project,
    shellPath: 'docker',
    shellArgs: ['exec', '-it', builder, '/bin/sh'],
    iconPath: new vscode.ThemeIcon('package'),
  });
  terminal.show();
  return terminal;
}
