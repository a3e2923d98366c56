// The real docker CLI, to check what the editor did independently of the editor and server.

import { execFileSync, spawnSync } from 'node:child_process';

export function imageId(image) {
  return execFileSync('docker', ['image', 'inspect', '--format', '{{.Id}}', image], { encoding: 'utf8' }).trim();
}

/** The builder containers labelled with this project folder. */
export function builders(projectDir) {
  const out = execFileSync(
    'docker',
    ['ps', '-a', '--format', '{{.Names}}', '--filter', `label=dev.docker-rebuilder.project=${projectDir}`, '--filter', 'label=dev.docker-rebuilder.role=builder'],
    { encoding: 'utf8' },
  );
  return out.split('\n').filter(Boolean);
}

export function containerExists(name) {
  return spawnSync('docker', ['container', 'inspect', name], { stdio: 'ignore' }).status === 0;
}

export function fileInContainer(name, file) {
  return spawnSync('docker', ['exec', name, 'test', '-f', file], { stdio: 'ignore' }).status === 0;
}
