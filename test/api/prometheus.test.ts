/**
 * Issue 14, item 14: Prometheus. A scrape-only token opens /metrics and nothing else; the
 * API listens off loopback only with TLS (Node's https) and a token; the real Prometheus
 * 2.42 scrapes it over TLS with the scrape token; promtool accepts the exposition.
 */

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDaemonConfig } from '../../src/config/daemon.js';
import { startDaemon, waitFor } from './harness.js';

const dir = mkdtempSync(join(tmpdir(), 'pw-prom-'));
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});
const FULL = 'full-api-token-0123456789';
const SCRAPE = 'scrape-only-token-0123456789';
const has = (cmd: string): boolean => spawnSync(cmd, ['--version'], { encoding: 'utf8' }).error === undefined;
const needsProm = has('prometheus') && has('promtool') ? false : 'SKIPPED: needs prometheus and promtool (Debian package prometheus; .ci/run installs it)';
const needsOpenssl = has('openssl') ? false : 'SKIPPED: needs openssl to make a test certificate';
if (needsProm) console.error(`prometheus: ${needsProm}`);
if (needsOpenssl) console.error(`prometheus: ${needsOpenssl}`);

interface Answer { status: number; body: string }
function fetchTcp(port: number, path: string, token: string | null, ca: string | null = null): Promise<Answer> {
  const headers = token === null ? {} : { authorization: `Bearer ${token}` };
  return new Promise((resolve, reject) => {
    const done = (res: import('node:http').IncomingMessage): void => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    };
    const req = ca === null
      ? httpRequest({ host: '127.0.0.1', port, path, headers }, done)
      : httpsRequest({ host: '127.0.0.1', port, path, headers, ca, servername: 'localhost' }, done);
    req.on('error', reject);
    req.end();
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** A self-signed certificate for 127.0.0.1 and localhost, and its key. */
function certificate(): { cert: string; key: string } {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert,
    '-days', '1', '-subj', '/CN=procwatch-test', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return { cert, key };
}

test('config: scrape_token, TLS, and no plain HTTP off loopback', async () => {
  const parse = (http: string) => parseDaemonConfig(`daemon:\n  http: ${http}\n`, 'p.yaml');
  const scrapeOnly = await parse(`{ listen: "127.0.0.1:9465", scrape_token: "${SCRAPE}" }`);
  assert.deepEqual([scrapeOnly.httpToken, scrapeOnly.httpScrapeToken, scrapeOnly.httpTls], [null, SCRAPE, null]);
  const central = await parse(`{ listen: "0.0.0.0:9465", scrape_token: "${SCRAPE}", tls: { cert: /etc/procwatch/cert.pem, key: /etc/procwatch/key.pem } }`);
  assert.deepEqual(central.httpTls, { cert: '/etc/procwatch/cert.pem', key: '/etc/procwatch/key.pem' });
  assert.equal((await parse(`{ listen: "[::]:9465", token: "${FULL}", tls: { cert: c.pem, key: k.pem } }`)).httpListen, '[::]:9465');
  assert.equal((await parse(`{ listen: "[::1]:9465", token: "${FULL}" }`)).httpTls, null, '::1 is loopback');
  const refused = async (http: string, message: RegExp): Promise<void> => { await assert.rejects(parse(http), message); };
  await refused(`{ listen: "10.1.2.3:9465", scrape_token: "${SCRAPE}" }`, /^InputError: config p.yaml: daemon.http.listen: 10.1.2.3:9465 is not a loopback address: listening there needs daemon.http.tls \(cert and key\)/);
  await refused(`{ listen: "[::]:9465", token: "${FULL}" }`, /not a loopback address/);
  await refused('{ listen: "127.0.0.1:9465" }', /daemon.http: needs token \(the whole API\) or scrape_token \(\/metrics only\), or both/);
  await refused(`{ listen: "127.0.0.1:9465", token: "${FULL}", scrape_token: "${FULL}" }`, /daemon.http.scrape_token: must differ from daemon.http.token/);
  await refused(`{ listen: "example.com:9465", token: "${FULL}" }`, /daemon.http.listen: expected an address and port/);
  await refused(`{ listen: "127.0.0.1:9465", token: "${FULL}", tls: { cert: c.pem } }`, /daemon.http.tls.key: expected a non-empty string/);
});

test('the scrape token opens /metrics and nothing else; the full token opens everything', async () => {
  const h = await startDaemon();
  try {
    await h.api.listenTcp('127.0.0.1:0', { token: FULL, scrapeToken: SCRAPE });
    const port = h.api.tcpPort()!;
    assert.equal((await fetchTcp(port, '/metrics', SCRAPE)).status, 200);
    for (const path of ['/v1/processes', '/v1/health', '/v1/events?since=1m', '/v1/history']) {
      const r = await fetchTcp(port, path, SCRAPE);
      assert.equal(r.status, 403, path);
      assert.deepEqual(JSON.parse(r.body), { error: 'this token opens /metrics only' });
    }
    assert.equal((await fetchTcp(port, '/v1/processes', FULL)).status, 200);
    assert.equal((await fetchTcp(port, '/metrics', FULL)).status, 200);
    assert.equal((await fetchTcp(port, '/metrics', null)).status, 401);
    assert.equal((await fetchTcp(port, '/metrics', `${SCRAPE}x`)).status, 401);
  } finally {
    await h.stop();
  }
});

test('the real Prometheus scrapes /metrics over TLS with the scrape token; promtool accepts it', { skip: needsProm || needsOpenssl }, async () => {
  const tls = certificate();
  const h = await startDaemon();
  try {
    await h.api.listenTcp('127.0.0.1:0', { scrapeToken: SCRAPE }, tls);
    const port = h.api.tcpPort()!;
    const { readFileSync } = await import('node:fs');
    const ca = readFileSync(tls.cert, 'utf8');
    const metrics = await fetchTcp(port, '/metrics', SCRAPE, ca);
    assert.equal(metrics.status, 200);
    const lint = spawnSync('promtool', ['check', 'metrics'], { input: metrics.body, encoding: 'utf8' });
    assert.equal(lint.status, 0, `promtool: ${lint.stdout}${lint.stderr}`);
    await assert.rejects(fetchTcp(port, '/metrics', SCRAPE), 'plain HTTP gets no answer from the TLS listener');

    const promPort = await freePort();
    writeFileSync(join(dir, 'prometheus.yml'), [
      'global: { scrape_interval: 1s, scrape_timeout: 1s }',
      'scrape_configs:',
      '  - job_name: procwatch',
      '    scheme: https',
      `    tls_config: { ca_file: ${tls.cert} }`,
      `    authorization: { type: Bearer, credentials: ${SCRAPE} }`,
      `    static_configs: [{ targets: ["127.0.0.1:${port}"] }]`,
      '  - job_name: procwatch-api-with-scrape-token',
      '    scheme: https',
      '    metrics_path: /v1/processes',
      `    tls_config: { ca_file: ${tls.cert} }`,
      `    authorization: { type: Bearer, credentials: ${SCRAPE} }`,
      `    static_configs: [{ targets: ["127.0.0.1:${port}"] }]`,
      '',
    ].join('\n'));
    const prom = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'tsdb')}`,
      `--web.listen-address=127.0.0.1:${promPort}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(prom);
    let log = '';
    prom.stderr!.on('data', (c: Buffer) => (log += c.toString()));
    type Target = { labels: { job: string }; health: string; lastError: string };
    const targets = async (): Promise<Target[] | undefined> => {
      try {
        const r = await fetchTcp(promPort, '/api/v1/targets', null);
        return (JSON.parse(r.body) as { data: { activeTargets: Target[] } }).data.activeTargets;
      } catch {
        return undefined;
      }
    };
    const settled = await waitFor(async () => {
      const t = await targets();
      return t !== undefined && t.length === 2 && t.every((x) => x.health !== 'unknown') ? t : undefined;
    }, 60_000);
    assert.ok(settled, `Prometheus did not scrape: ${log.slice(-2000)}`);
    const byJob = new Map(settled.map((t) => [t.labels.job, t]));
    assert.equal(byJob.get('procwatch')?.health, 'up', byJob.get('procwatch')?.lastError);
    assert.equal(byJob.get('procwatch-api-with-scrape-token')?.health, 'down');
    assert.match(byJob.get('procwatch-api-with-scrape-token')?.lastError ?? '', /403/);
    const value = await waitFor(async () => {
      const r = await fetchTcp(promPort, '/api/v1/query?query=procwatch_uptime_seconds', null);
      const result = (JSON.parse(r.body) as { data: { result: Array<{ value: [number, string] }> } }).data.result;
      return result[0]?.value[1];
    }, 30_000);
    assert.ok(value !== undefined && Number(value) > 0, `stored by Prometheus: ${String(value)}`);
    prom.kill('SIGTERM');
    await new Promise((r) => (prom.exitCode !== null ? r(null) : prom.on('exit', r)));
  } finally {
    await h.stop();
  }
});
