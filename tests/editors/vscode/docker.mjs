// The real docker CLI, to check what the editor did independently of the editor and server.

import { execFileSync, spawnSync } from 'node:child_process';

export function imageId(image) {
  return execFileSync('docker', ['image', 'inspect', '--format', '{{.Id}}', image], { encoding: 'utf8' }).trim();
}

/** The builder containers labelled with this project folder. */
export function builders(projectDir) {
  return labelled(projectDir, 'builder');
}

/** The containers labelled with this project folder (and this role, if given). */
export function labelled(projectDir, role) {
  const filters = ['--filter', `label=dev.docker-rebuilder.project=${projectDir}`];
  if (role) {
    filters.push('--filter', `label=dev.docker-rebuilder.role=${role}`);
  }
  const out = execFileSync('docker', ['ps', '-a', '--format', '{{.Names}}', ...filters], { encoding: 'utf8' });
  return out.split('\n').filter(Boolean);
}

/** What `docker run --rm IMAGE` prints (throws if it fails). */
export function runImage(image) {
  return execFileSync('docker', ['run', '--rm', image], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

/** The image's `User`, `Entrypoint` (JSON) and size in bytes. */
export function imageConfig(image) {
  const out = execFileSync('docker', ['image', 'inspect', '--format', '{{json .Config.User}}\t{{json .Config.Entrypoint}}\t{{.Size}}', image], { encoding: 'utf8' });
  const [user, entrypoint, size] = out.trim().split('\t');
  return { user: JSON.parse(user), entrypoint: JSON.parse(entrypoint), size: Number(size) };
}

export function imageExists(image) {
  return spawnSync('docker', ['image', 'inspect', image], { stdio: 'ignore' }).status === 0;
}

export function removeImage(image) {
  execFileSync('docker', ['image', 'rm', image], { stdio: 'ignore' });
}

export function containerExists(name) {
  return spawnSync('docker', ['container', 'inspect', name], { stdio: 'ignore' }).status === 0;
}

export function fileInContainer(name, file) {
  return spawnSync('docker', ['exec', name, 'test', '-f', file], { stdio: 'ignore' }).status === 0;
}
