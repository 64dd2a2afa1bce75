/** cgroup v2 paths → systemd unit and container (id, runtime), on the names each runtime gives its cgroups. */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmdirSync, statSync } from 'node:fs';
import { parseCgroupPath, CgroupPaths, cgroup2Mount } from '../../src/procfs/cgroup.js';

const ID = 'f0e1d2c3b4a5968778695a4b3c2d1e0ff0e1d2c3b4a5968778695a4b3c2d1e0f';

const FIXTURES: Array<[path: string, unit: string | null, id: string | null, runtime: string | null]> = [
  ['/system.slice/nginx.service', 'nginx.service', null, null],
  ['/system.slice/system-getty.slice/getty@tty1.service', 'getty@tty1.service', null, null],
  ['/user.slice/user-1000.slice/session-3.scope', 'session-3.scope', null, null],
  ['/user.slice/user-1000.slice/user@1000.service/app.slice/app-gnome-firefox-1234.scope', 'app-gnome-firefox-1234.scope', null, null],
  ['/init.scope', 'init.scope', null, null],
  ['/', null, null, null],
  // docker, systemd cgroup driver and cgroupfs driver
  [`/system.slice/docker-${ID}.scope`, `docker-${ID}.scope`, ID, 'docker'],
  [`/docker/${ID}`, null, ID, 'docker'],
  // containerd under Kubernetes (systemd driver), and its cgroupfs layout
  [`/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1234.slice/cri-containerd-${ID}.scope`, `cri-containerd-${ID}.scope`, ID, 'containerd'],
  [`/kubepods/besteffort/pod1234/${ID}`, null, ID, 'containerd'],
  // CRI-O
  [`/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podabc.slice/crio-${ID}.scope`, `crio-${ID}.scope`, ID, 'crio'],
  // podman: rootful (systemd), rootless (below the user's service), and cgroupfs
  [`/machine.slice/libpod-${ID}.scope`, `libpod-${ID}.scope`, ID, 'podman'],
  [`/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-${ID}.scope/container`, `libpod-${ID}.scope`, ID, 'podman'],
  [`/libpod_parent/libpod-${ID}`, null, ID, 'podman'],
  // not a container id (too short): a plain scope
  ['/system.slice/docker-abc.scope', 'docker-abc.scope', null, null],
];

test('unit and container from the cgroup names of systemd, docker, containerd, CRI-O and podman', () => {
  for (const [path, unit, containerId, runtime] of FIXTURES) {
    const got = parseCgroupPath(path);
    assert.deepEqual(got, { unit, containerId, runtime }, path);
  }
});

test('cgroup ids (directory inodes, as eBPF reports them) resolve to paths, rescanning when one is new', () => {
  const root = cgroup2Mount();
  if (root === null) {
    console.log('# SKIPPED: no cgroup v2 hierarchy is mounted');
    return;
  }
  const paths = new CgroupPaths(root, 0);
  assert.equal(paths.pathOf(statSync(root).ino), '/');
  const dir = `${root}/procwatch-test-${process.pid}`;
  mkdirSync(dir);
  try {
    assert.equal(paths.pathOf(statSync(dir).ino), `/procwatch-test-${process.pid}`, 'a new cgroup is found by a rescan');
  } finally {
    rmdirSync(dir);
  }
});
