// Server progress, cancellable. vscode-languageclient shows server-initiated progress at
// ProgressLocation.Window, where VS Code draws no Cancel button, so the server's cancel
// support would be unreachable. This takes over window/workDoneProgress/create: the same
// quiet status-bar progress, plus the tokens of running cycles for "Docker Rebuilder: Cancel
// Build" (which sends window/workDoneProgress/cancel).

import * as vscode from 'vscode';
import {
  LanguageClient,
  ProgressToken,
  WorkDoneProgress,
  WorkDoneProgressCancelNotification,
  WorkDoneProgressCreateRequest,
} from 'vscode-languageclient/node';

export class BuildProgress {
  private readonly running = new Map<ProgressToken, { client: LanguageClient; cancellable: boolean }>();

  /**
   * Call after `client.start()` resolves: the client's own progress feature registers its
   * handler during start, and the last handler registered wins. (After a crash, the client
   * restarts by itself with its own handler: progress still shows, without Cancel.)
   */
  attach(client: LanguageClient): vscode.Disposable {
    return client.onRequest(WorkDoneProgressCreateRequest.type, ({ token }) => this.track(client, token));
  }

  private track(client: LanguageClient, token: ProgressToken): void {
    let report: ((message: string) => void) | undefined;
    let finish: (() => void) | undefined;
    const listener = client.onProgress(WorkDoneProgress.type, token, (value) => {
      switch (value.kind) {
        case 'begin':
          this.running.set(token, { client, cancellable: value.cancellable ?? false });
          void vscode.window.withProgress(
            { location: vscode.ProgressLocation.Window, title: value.title },
            (progress) =>
              new Promise<void>((resolve) => {
                report = (message) => progress.report({ message });
                finish = resolve;
                if (value.message) {
                  report(value.message);
                }
              }),
          );
          break;
        case 'report':
          if (value.message) {
            report?.(value.message);
          }
          break;
        case 'end':
          this.running.delete(token);
          finish?.();
          listener.dispose();
          break;
      }
    });
  }

  /** Asks the server to stop every running cycle; false when none can be cancelled. */
  cancelAll(): boolean {
    let sent = false;
    for (const [token, { client, cancellable }] of this.running) {
      if (cancellable && client.isRunning()) {
        void client.sendNotification(WorkDoneProgressCancelNotification.type, { token });
        sent = true;
      }
    }
    return sent;
  }
}
