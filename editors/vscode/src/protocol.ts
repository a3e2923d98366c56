// The server's additions to LSP, as the server defines them (server/src/lsp/protocol.rs).

import { NotificationType } from 'vscode-languageclient/node';

/** Commands the server executes through `workspace/executeCommand`. */
export const ServerCommand = {
  rebuild: 'docker-rebuilder.rebuild',
  fullBuild: 'docker-rebuilder.fullBuild',
  clean: 'docker-rebuilder.clean',
  status: 'docker-rebuilder.status',
} as const;

export type BuildState = 'idle' | 'building' | 'succeeded' | 'failed' | 'down' | 'error' | 'stopped';

/** `docker-rebuilder/status`, sent after every change of a project's state. */
export interface StatusParams {
  project: string;
  state: BuildState;
  image: string;
  imageId?: string | null;
  durationMs?: number | null;
  errors: number;
  warnings: number;
  message: string;
  /** In a multi-stage image: the stage whose build failed. */
  stage?: string | null;
  /** A compose service: its name (`project` is then the compose folder). */
  service?: string | null;
  /** A compose service: its build context folder (the files it builds are under it). */
  context?: string | null;
  /** Higher for a later session of the same project: a status with a lower one than the last
   * seen is stale; `stopped` (a session's last word) ends only the session it names. */
  session: number;
}

export const StatusNotification = new NotificationType<StatusParams>('docker-rebuilder/status');

/** The reply to `docker-rebuilder.status`: the notification's fields plus the builder's name. */
export interface StatusReply extends StatusParams {
  builder: string;
}

/** The reply to `docker-rebuilder.clean`. */
export interface CleanReply {
  builderRemoved?: string | null;
  imagesRemoved: string[];
}

/** The reply to `docker-rebuilder.rebuild` and `docker-rebuilder.fullBuild`. */
export interface CycleReply {
  state: BuildState;
  /** image_built | up_to_date | succeeded | build_failed | cancelled | timed_out */
  outcome: string;
  message: string;
  image: string;
  imageId?: string | null;
  durationMs: number;
  uploaded: number;
  deleted: number;
  filesRead: number;
}
