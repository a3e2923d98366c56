// The language client: how the server is started and which messages go to it.

import * as vscode from 'vscode';
import {
  LanguageClient,
  LanguageClientOptions,
  RevealOutputChannelOn,
  ServerOptions,
} from 'vscode-languageclient/node';

export function createClient(serverPath: string, log: vscode.LogOutputChannel): LanguageClient {
  const config = vscode.workspace.getConfiguration('dockerRebuilder');
  const extraArgs = config.get<string[]>('server.extraArgs', []);
  // No `transport`: with TransportKind.stdio the client would append `--stdio`, which the
  // server does not take; a plain executable talks LSP on stdin/stdout all the same.
  const run = { command: serverPath, args: [...extraArgs, 'lsp'] };
  const serverOptions: ServerOptions = { run, debug: run };

  const clientOptions: LanguageClientOptions = {
    // Any file on disk can be part of an image, whatever its language; the server decides
    // which project (if any) a saved file belongs to.
    documentSelector: [{ scheme: 'file' }],
    // Build output arrives as window/logMessage; the client writes it to this channel, which
    // "Show Build Log" reveals. It must not pop up by itself on every build.
    outputChannel: log,
    revealOutputChannelOn: RevealOutputChannelOn.Never,
    // With rebuildOnSave off the server builds only on request: no save and no file watcher of
    // its own starts a cycle. (A change of the setting restarts the server.)
    // The server reads `dockerRebuilder.compose` per folder (workspace/configuration); a change
    // of it is announced so that the server reads it again.
    synchronize: { configurationSection: 'dockerRebuilder.compose' },
    initializationOptions: () => ({
      rebuildOnSave: vscode.workspace.getConfiguration('dockerRebuilder').get<boolean>('rebuildOnSave', true),
    }),
    middleware: {
      // The server starts a cycle on every didSave; with rebuildOnSave off, it never hears of
      // saves and builds only on "Rebuild Now". Read at each save, so the setting applies at once.
      didSave: (document, next) => {
        if (vscode.workspace.getConfiguration('dockerRebuilder').get<boolean>('rebuildOnSave', true)) {
          return next(document);
        }
        return Promise.resolve();
      },
    },
  };
  return new LanguageClient('dockerRebuilder', 'Docker Rebuilder', serverOptions, clientOptions);
}
