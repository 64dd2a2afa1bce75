/**
 * What a person recognises in a cgroup v2 path: the systemd unit, and the container (id and
 * runtime) from the names docker, containerd (also under Kubernetes), podman and CRI-O give
 * their cgroups. A pure function of the path, so it is tested on fixtures of each naming.
 */

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

export interface CgroupName {
  /** The innermost systemd unit (`nginx.service`, `session-3.scope`), or null outside units. */
  unit: string | null;
  /** Full container id (64 hex characters for docker, containerd, podman, CRI-O), or null. */
  containerId: string | null;
  /** `docker`, `containerd`, `podman`, `crio`, or null. */
  runtime: string | null;
}

const NONE: CgroupName = Object.freeze({ unit: null, containerId: null, runtime: null });

/** Scope name prefixes that each runtime uses (systemd cgroup driver), then the plain directories (cgroupfs driver). */
const SCOPE_RUNTIMES: ReadonlyArray<[prefix: string, runtime: string]> = [
  ['docker-', 'docker'], ['cri-containerd-', 'containerd'], ['crio-', 'crio'], ['libpod-', 'podman'],
];
const DIR_RUNTIMES: ReadonlyArray<[dir: string, runtime: string]> = [
  ['docker', 'docker'], ['libpod_parent', 'podman'], ['containerd', 'containerd'], ['crio', 'crio'],
];
const ID = /^[0-9a-f]{64}$/;
const UNIT = /\.(service|scope|slice|socket|mount|swap|timer)$/;

const cache = new Map<string, CgroupName>();

/** Unit and container of a cgroup v2 path such as `/system.slice/docker-<id>.scope`; memoised (paths repeat). */
export function cgroupName(path: string | null): CgroupName {
  if (path === null || path === '') return NONE;
  const known = cache.get(path);
  if (known !== undefined) return known;
  const parsed = parseCgroupPath(path);
  if (cache.size >= 4096) cache.clear();
  cache.set(path, parsed);
  return parsed;
}

export function parseCgroupPath(path: string): CgroupName {
  const parts = path.split('/').filter((p) => p !== '');
  let unit: string | null = null;
  let containerId: string | null = null;
  let runtime: string | null = null;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    const scope = part.endsWith('.scope') ? part.slice(0, -'.scope'.length) : null;
    if (scope !== null) {
      const hit = SCOPE_RUNTIMES.find(([prefix]) => scope.startsWith(prefix) && ID.test(scope.slice(prefix.length)));
      if (hit !== undefined) {
        containerId = scope.slice(hit[0].length);
        runtime = hit[1];
        // The container's own processes are in the scope or below it (podman's `container/`): stop at the container.
        unit = part;
        break;
      }
    }
    if (ID.test(part) && i > 0) {
      // cgroupfs driver: /docker/<id>, /libpod_parent/libpod-<id> handled above, /kubepods/.../<id>.
      const parent = parts[i - 1]!;
      const dir = DIR_RUNTIMES.find(([name]) => parent === name);
      containerId = part;
      runtime = dir?.[1] ?? (parts.some((p) => p.startsWith('kubepods')) ? 'containerd' : null);
      break;
    }
    if (part.startsWith('libpod-') && ID.test(part.slice('libpod-'.length))) {
      containerId = part.slice('libpod-'.length);
      runtime = 'podman';
      break;
    }
    if (UNIT.test(part) && !part.endsWith('.slice')) unit = part;
  }
  if (unit === null && containerId === null && runtime === null) return NONE;
  return { unit, containerId, runtime };
}

/**
 * cgroup v2 ids (the inode number of each cgroup directory, what eBPF's bpf_get_current_cgroup_id
 * gives) → their paths under the mount. The eBPF source reports only the id at an exec; the
 * path is looked up here, rescanning the tree when an id is unknown, at most once per
 * `rescanMs` (a storm of unknown ids costs one walk, not one each).
 */
export class CgroupPaths {
  private readonly byId = new Map<number, string>();
  private lastScanMs = -Infinity;
  scans = 0;

  constructor(private readonly mount = cgroup2Mount() ?? '/sys/fs/cgroup', private readonly rescanMs = 100, private readonly maxEntries = 65_536) {}

  pathOf(id: number, nowMs = Date.now()): string | null {
    const known = this.byId.get(id);
    if (known !== undefined) return known;
    if (nowMs - this.lastScanMs < this.rescanMs) return null;
    this.lastScanMs = nowMs;
    this.scan();
    return this.byId.get(id) ?? null;
  }

  private scan(): void {
    this.scans++;
    this.byId.clear();
    const walk = (dir: string, rel: string): void => {
      if (this.byId.size >= this.maxEntries) return;
      let entries;
      try {
        entries = readdirSync(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const entry of entries) {
        if (!entry.isDirectory()) continue;
        const path = join(dir, entry.name);
        const relPath = `${rel}/${entry.name}`;
        try {
          this.byId.set(statSync(path).ino, relPath);
        } catch {
          continue;
        }
        walk(path, relPath);
      }
    };
    try {
      this.byId.set(statSync(this.mount).ino, '/');
    } catch {
      return;
    }
    walk(this.mount, '');
  }
}

/** The unit and container fields of a process (README: Process fields) from its cgroup path. */
export function cgroupFields(cgroup: string | null): { unit: string | null; container: string | null; containerRuntime: string | null } {
  const n = cgroupName(cgroup);
  return { unit: n.unit, container: n.containerId, containerRuntime: n.runtime };
}

/** Where cgroup v2 is mounted: /sys/fs/cgroup, or /sys/fs/cgroup/unified on a hybrid (v1 + v2) system; null when it is not. */
export function cgroup2Mount(mounts = '/proc/self/mounts'): string | null {
  try {
    for (const line of readFileSync(mounts, 'utf8').split('\n')) {
      const [, mountPoint, type] = line.split(' ');
      if (type === 'cgroup2' && mountPoint !== undefined) return mountPoint.replace(/\\040/g, ' ');
    }
  } catch {
    // no /proc: no cgroup v2 known
  }
  return null;
}
