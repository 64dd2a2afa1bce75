#!/usr/bin/env node
// Builds procwatch's optional native addons (two builds) with the node-gyp that ships inside npm:
//   1. the proc connector reader: native/ -> native/build/Release/procconn.node (and, from the
//      same binding.gyp, unixdgram.node, the syslog action's datagram sender, and malloctune.node,
//      the daemon's glibc malloc set-up)
//   2. the eBPF reader: native/bpf/ -> native/bpf/build/Release/procbpf.node. Its BPF object
//      is compiled first (clang -target bpf, against a vmlinux.h dumped from this kernel's
//      BTF by bpftool into native/bpf/build/gen/, never committed) and embedded as a libbpf
//      skeleton (bpftool gen skeleton). Needs clang, bpftool and libbpf-dev.
// Each is optional and independent: a failed build (a missing tool, a read-only tree, any
// exception) prints one line and the other goes on; procwatch then uses the next source
// (eBPF, else netlink, else polling /proc). Why the eBPF addon was not built is kept in
// native/bpf/build/UNAVAILABLE, which the loader (src/sources/bpf-native.ts) reports. Set
// PROCWATCH_REQUIRE_NATIVE=1 to make a failed proc connector build exit 1, and
// PROCWATCH_REQUIRE_BPF=1 to do the same for the eBPF addon (CI, packagers). CLANG and
// BPFTOOL name the tools to use instead of the ones found on PATH.
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const nativeDir = join(root, 'native');
const requireNative = process.env.PROCWATCH_REQUIRE_NATIVE === '1';
const requireBpf = process.env.PROCWATCH_REQUIRE_BPF === '1';

/** Reports one addon's outcome; returns whether the whole script must fail because of it. */
function report(ok, line, required, envName, fallback) {
  if (ok) {
    console.log(`build-native: ${line}`);
    return false;
  }
  console.error(`build-native: ${line}; ${required ? `${envName}=1, failing` : `continuing without it (${fallback})`}`);
  return required;
}

/** npm's own node-gyp: npm passes it in npm_config_node_gyp; otherwise look beside npm. */
function findNodeGyp() {
  const candidates = [];
  if (process.env.npm_config_node_gyp) candidates.push(process.env.npm_config_node_gyp);
  const prefix = dirname(dirname(process.execPath)); // /usr for /usr/bin/node
  candidates.push(join(prefix, 'lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'));
  candidates.push(join(prefix, 'node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'));
  const npmRoot = spawnSync('npm', ['root', '-g'], { encoding: 'utf8' });
  if (npmRoot.status === 0 && npmRoot.stdout.trim() !== '') {
    candidates.push(join(npmRoot.stdout.trim(), 'npm/node_modules/node-gyp/bin/node-gyp.js'));
  }
  for (const from of [import.meta.url, join(prefix, 'lib/node_modules/npm/package.json')]) {
    try {
      candidates.push(createRequire(from).resolve('node-gyp/bin/node-gyp.js'));
    } catch {
      // not resolvable from there
    }
  }
  return candidates.find((c) => existsSync(c)) ?? null;
}

/** Headers of the running node, so node-gyp need not download them (no network here). */
function nodedirArgs() {
  if (process.env.npm_config_nodedir) return [];
  const prefix = dirname(dirname(process.execPath));
  return existsSync(join(prefix, 'include/node/node_api.h')) ? [`--nodedir=${prefix}`] : [];
}

/**
 * One clear line from a failed command, saying why: the compiler's own first error; else the
 * error node-gyp threw (its `gyp ERR! stack Error: ...` line: "Could not find any Python
 * installation to use"), never its bare "gyp ERR! configure error"; else any error line.
 */
function firstError(result, fallback) {
  if (result.error) return result.error.message;
  const lines = `${result.stdout ?? ''}\n${result.stderr ?? ''}`.split('\n').map((l) => l.trim());
  const compiler = lines.find((l) => /:\d+(:\d+)?: (fatal )?error: /.test(l));
  if (compiler !== undefined) return compiler;
  const thrown = lines.map((l) => /^gyp ERR! stack (\w*Error: .+)$/.exec(l)?.[1]).find((m) => m !== undefined);
  if (thrown !== undefined) return `${/^gyp ERR! (\w+) error$/.exec(lines.find((l) => /^gyp ERR! \w+ error$/.test(l)) ?? '')?.[1] ?? 'node-gyp'}: ${thrown}${/Python/.test(thrown) ? ' (install python3)' : ''}`;
  const line = lines.find((l) => /error/i.test(l) && !/^gyp ERR! (stack|System|command|cwd|node|not ok)/.test(l) && !/^gyp ERR! \w+ error$/.test(l));
  return line ?? fallback;
}

function gyp(dir, args) {
  return spawnSync(process.execPath, [nodeGyp, ...args, '--release', ...nodedirArgs()], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Runs one build step; an exception (EROFS, EACCES, ...) becomes its failure line. */
function guarded(what, step) {
  try {
    return step();
  } catch (err) {
    return [false, `${what}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`];
  }
}

/** The proc connector addon. Returns [ok, line]. */
function buildProcconn() {
  const result = gyp(nativeDir, ['rebuild']);
  const built = join(nativeDir, 'build/Release/procconn.node');
  if (result.status === 0 && existsSync(built)) return [true, `built ${built}`];
  return [false, `native addon build failed: ${firstError(result, `node-gyp exited ${result.status}`)}`];
}

/** A tool on PATH or in the sbin directories (bpftool lives in /usr/sbin on Debian). */
function findTool(names) {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const name of names) for (const dir of dirs) if (dir !== '' && existsSync(join(dir, name))) return join(dir, name);
  return null;
}

/** $envName (a path, or a name looked up like the defaults), else the first of names found. */
function tool(envName, names) {
  const given = process.env[envName];
  if (given === undefined || given === '') return { path: findTool(names), hint: `install ${names[0]}` };
  const path = given.includes('/') ? (existsSync(given) ? given : null) : findTool([given]);
  return { path, hint: `${envName}=${given} does not exist` };
}

const BPF_ARCH = { x64: 'x86', arm64: 'arm64', arm: 'arm', s390x: 's390', ppc64: 'powerpc', riscv64: 'riscv', loong64: 'loongarch' };

const bpfDir = join(nativeDir, 'bpf');
const bpfBuildDir = join(bpfDir, 'build');
/** Why the eBPF addon is not built, one line; read by src/sources/bpf-native.ts. */
const bpfUnavailableFile = join(bpfBuildDir, 'UNAVAILABLE');

/**
 * The eBPF addon. A failure removes any older addon (it would not match these sources) and
 * leaves its reason in native/bpf/build/UNAVAILABLE, so the source can say why it is off.
 */
function buildBpf() {
  const result = guarded('eBPF addon not built', buildBpfSteps);
  if (!result[0]) recordBpfUnavailable(result[1]);
  return result;
}

function recordBpfUnavailable(line) {
  try {
    rmSync(join(bpfBuildDir, 'Release'), { recursive: true, force: true });
    mkdirSync(bpfBuildDir, { recursive: true });
    writeFileSync(bpfUnavailableFile, `${line}\n`);
  } catch (err) {
    console.error(`build-native: could not record the reason in ${bpfUnavailableFile}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** BPF object, skeleton, then the N-API addon linked with libbpf. Returns [ok, line]. */
function buildBpfSteps() {
  const gen = join(bpfBuildDir, 'gen');
  const clang = tool('CLANG', ['clang', 'clang-19', 'clang-18', 'clang-17', 'clang-16', 'clang-15', 'clang-14']);
  const bpftool = tool('BPFTOOL', ['bpftool']);
  const arch = BPF_ARCH[process.arch];
  if (clang.path === null) return [false, `eBPF addon not built: clang not found (${clang.hint})`];
  if (bpftool.path === null) return [false, `eBPF addon not built: bpftool not found (${bpftool.hint})`];
  if (!existsSync('/usr/include/bpf/libbpf.h') && !existsSync('/usr/local/include/bpf/libbpf.h')) {
    return [false, 'eBPF addon not built: libbpf headers not found (install libbpf-dev)'];
  }
  if (arch === undefined) return [false, `eBPF addon not built: no BPF target for ${process.arch}`];
  if (!existsSync('/sys/kernel/btf/vmlinux')) return [false, 'eBPF addon not built: no BTF at /sys/kernel/btf/vmlinux (a kernel built with CONFIG_DEBUG_INFO_BTF is needed)'];
  rmSync(bpfBuildDir, { recursive: true, force: true });
  mkdirSync(gen, { recursive: true });
  const run = (what, cmd, args) => {
    const r = spawnSync(cmd, args, { cwd: bpfDir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 256 << 20 });
    return r.status === 0 ? { ok: true, stdout: r.stdout } : { ok: false, why: `${what} failed: ${firstError(r, `${cmd} exited ${r.status}`)}` };
  };
  const btf = run('bpftool btf dump', bpftool.path, ['btf', 'dump', 'file', '/sys/kernel/btf/vmlinux', 'format', 'c']);
  if (!btf.ok) return [false, `eBPF addon not built: ${btf.why}`];
  writeFileSync(join(gen, 'vmlinux.h'), btf.stdout);
  const obj = join(gen, 'procwatch.bpf.o');
  const cc = run('clang -target bpf', clang.path, ['-g', '-O2', '-target', 'bpf', `-D__TARGET_ARCH_${arch}`, '-Wall', '-I', gen, '-c', 'procwatch.bpf.c', '-o', obj]);
  if (!cc.ok) return [false, `eBPF addon not built: ${cc.why}`];
  const skel = run('bpftool gen skeleton', bpftool.path, ['gen', 'skeleton', obj, 'name', 'procwatch_bpf']);
  if (!skel.ok) return [false, `eBPF addon not built: ${skel.why}`];
  writeFileSync(join(gen, 'procwatch.skel.h'), skel.stdout);
  // The resource snapshot's task iterator (issue 12): its own object and skeleton.
  const tasksObj = join(gen, 'tasks.bpf.o');
  const tasksCc = run('clang -target bpf (tasks)', clang.path, ['-g', '-O2', '-target', 'bpf', `-D__TARGET_ARCH_${arch}`, '-Wall', '-I', gen, '-c', 'tasks.bpf.c', '-o', tasksObj]);
  if (!tasksCc.ok) return [false, `eBPF addon not built: ${tasksCc.why}`];
  const tasksSkel = run('bpftool gen skeleton (tasks)', bpftool.path, ['gen', 'skeleton', tasksObj, 'name', 'tasks_bpf']);
  if (!tasksSkel.ok) return [false, `eBPF addon not built: ${tasksSkel.why}`];
  writeFileSync(join(gen, 'tasks.skel.h'), tasksSkel.stdout);
  for (const step of ['configure', 'build']) {
    const r = gyp(bpfDir, [step]);
    if (r.status !== 0) return [false, `eBPF addon build failed: ${firstError(r, `node-gyp ${step} exited ${r.status}`)}`];
  }
  const built = join(bpfDir, 'build/Release/procbpf.node');
  return existsSync(built) ? [true, `built ${built}`] : [false, `eBPF addon build failed: no ${built}`];
}

let fail = false;
if (process.platform !== 'linux') {
  const why = `skipped: the proc connector and eBPF exist only on Linux (this is ${process.platform})`;
  fail = report(false, why, requireNative, 'PROCWATCH_REQUIRE_NATIVE', 'the /proc poll source will be used') || fail;
  fail = report(false, why, requireBpf, 'PROCWATCH_REQUIRE_BPF', 'netlink or polling will be used') || fail;
  process.exit(fail ? 1 : 0);
}
const nodeGyp = findNodeGyp();
if (nodeGyp === null) {
  const why = 'node-gyp not found (looked in npm_config_node_gyp and beside npm)';
  recordBpfUnavailable(`eBPF addon not built: ${why}`);
  fail = report(false, why, requireNative, 'PROCWATCH_REQUIRE_NATIVE', 'the /proc poll source will be used') || fail;
  fail = report(false, why, requireBpf, 'PROCWATCH_REQUIRE_BPF', 'netlink or polling will be used') || fail;
  process.exit(fail ? 1 : 0);
}
fail = report(...guarded('native addon build failed', buildProcconn), requireNative, 'PROCWATCH_REQUIRE_NATIVE', 'the /proc poll source will be used') || fail;
fail = report(...buildBpf(), requireBpf, 'PROCWATCH_REQUIRE_BPF', 'the eBPF source is unavailable; netlink or polling will be used') || fail;
process.exit(fail ? 1 : 0);
