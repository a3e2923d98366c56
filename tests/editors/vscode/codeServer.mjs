// Starts code-server (VS Code 1.100 in a browser) in a fresh, isolated run folder: its own
// user data, extensions, XDG folders and TMPDIR, so nothing leaks between runs or from the
// machine's own settings. Stopped by its process group.

import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { waitFor } from './wait.mjs';

/** Opens `folder`, or the multi-root `workspace` (a .code-workspace file) when given. */
export async function startCodeServer({ bin, runDir, folder, workspace, vsix, settings }) {
  const dirs = {};
  for (const name of ['user-data', 'extensions', 'config', 'data', 'cache', 'tmp']) {
    dirs[name] = path.join(runDir, name);
    fs.mkdirSync(dirs[name], { recursive: true });
  }
  const env = {
    ...process.env,
    XDG_CONFIG_HOME: dirs.config,
    XDG_DATA_HOME: dirs.data,
    XDG_CACHE_HOME: dirs.cache,
    TMPDIR: dirs.tmp,
  };
  const common = ['--user-data-dir', dirs['user-data'], '--extensions-dir', dirs.extensions];
  fs.mkdirSync(path.join(dirs['user-data'], 'User'), { recursive: true });
  fs.writeFileSync(path.join(dirs['user-data'], 'User', 'settings.json'), JSON.stringify(settings, null, 2));
  // Installed as a user installs a downloaded .vsix.
  execFileSync(bin, [...common, '--install-extension', vsix], { env, stdio: ['ignore', 'pipe', 'pipe'] });

  const port = await freePort();
  const log = fs.openSync(path.join(runDir, 'code-server.log'), 'a');
  const child = spawn(
    bin,
    [
      '--bind-addr', `127.0.0.1:${port}`,
      '--auth', 'none',
      '--disable-telemetry',
      '--disable-update-check',
      '--disable-workspace-trust',
      ...common,
      workspace ?? folder,
    ],
    { env, detached: true, stdio: ['ignore', log, log] },
  );
  // run.sh kills this group too if the test itself dies.
  fs.writeFileSync(path.join(runDir, 'code-server.pgid'), String(child.pid));
  const url = `http://127.0.0.1:${port}`;
  await waitFor('code-server to answer /healthz', 60_000, async () => {
    if (child.exitCode !== null) {
      throw new Error(`code-server exited with ${child.exitCode}; see ${runDir}/code-server.log`);
    }
    try {
      return (await fetch(`${url}/healthz`)).ok;
    } catch {
      return false;
    }
  });
  return {
    url: workspace ? `${url}/?workspace=${encodeURIComponent(workspace)}` : `${url}/?folder=${encodeURIComponent(folder)}`,
    /** The user settings file (VS Code applies a change to it at once). */
    settingsFile: path.join(dirs['user-data'], 'User', 'settings.json'),
    stop() {
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        // already gone
      }
    },
  };
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}
