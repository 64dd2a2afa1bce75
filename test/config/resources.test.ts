/** The daemon.resources section (issue 12): every key, the defaults, and one clear line per mistake. */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDaemonConfig } from '../../src/config/daemon.js';
import { RESOURCES_DEFAULTS } from '../../src/config/resources.js';
import { InputError } from '../../src/errors.js';

const parse = (text: string) => parseDaemonConfig(text, 'test.yaml');

test('every key, with units; groups by selectors and by cgroup', async () => {
  const c = await parse(`
daemon:
  resources:
    source: proc
    interval: 500ms
    history: { interval: 30s, keyframe: 1h, max_rows_per_minute: 600, max_age: 2d }
    max_groups: 5
    groups:
      - { name: web, match: "exe=/usr/sbin/nginx,user=root" }
      - { name: app.workers, cgroup: "/system.slice/app.service*" }
      - { name: both, match: "name=python3", cgroup: "*docker-*" }
`);
  assert.deepEqual(c.resources, {
    source: 'proc', intervalMs: 500, historyIntervalMs: 30_000, historyKeyframeMs: 3_600_000, historyMaxRowsPerMinute: 600, historyMaxAgeMs: 2 * 86_400_000,
    maxGroups: 5, groups: [{ name: 'web', match: 'exe=/usr/sbin/nginx,user=root' }, { name: 'app.workers', cgroup: '/system.slice/app.service*' }, { name: 'both', match: 'name=python3', cgroup: '*docker-*' }],
  });
  assert.equal((await parse('daemon: { resources: { history: { max_age: none } } }\n')).resources.historyMaxAgeMs, null);
  assert.deepEqual((await parse('daemon: {}\n')).resources, RESOURCES_DEFAULTS);
  assert.equal(RESOURCES_DEFAULTS.intervalMs, 2000, 'a snapshot every 2 s unless configured');
});

test('mistakes: one line naming the key', async () => {
  const cases: Array<[string, RegExp]> = [
    ['resources: { bogus: 1 }', /daemon\.resources: unknown key 'bogus'/],
    ['resources: { source: bpf }', /daemon\.resources\.source: expected auto, ebpf, proc, off/],
    ['resources: { interval: 10ms }', /daemon\.resources\.interval: at least 100ms/],
    ['resources: { interval: soon }', /daemon\.resources\.interval: expected a duration/],
    ['resources: { history: { keep: 1d } }', /daemon\.resources\.history: unknown key 'keep'/],
    ['resources: { history: { max_rows_per_minute: -1 } }', /max_rows_per_minute/],
    ['resources: { groups: web }', /daemon\.resources\.groups: expected a list/],
    ['resources: { groups: [ { name: web } ] }', /groups\[0\]: expected match .* and\/or cgroup/],
    ['resources: { groups: [ { name: "a b", match: x } ] }', /groups\[0\]\.name: expected 1 to 64/],
    ['resources: { groups: [ { name: w, match: x }, { name: w, match: y } ] }', /groups\[1\]\.name: group 'w' is defined twice/],
    ['resources: { groups: [ { name: w, match: "user=no-such-user-pw" } ] }', /groups\[0\]\.match: unknown user 'no-such-user-pw'/],
    ['resources: { groups: [ { name: w, match: "bogus=1" } ] }', /groups\[0\]\.match: unknown selector 'bogus'/],
    ['resources: { groups: [ { name: w, match: "args~[" } ] }', /groups\[0\]\.match: .*regular expression/],
    ['resources: { max_groups: 1, groups: [ { name: a, match: x }, { name: b, match: y } ] }', /2 groups, more than max_groups \(1\)/],
  ];
  for (const [yaml, pattern] of cases) {
    await assert.rejects(parse(`daemon:\n  ${yaml}\n`), (e: Error) => e instanceof InputError && pattern.test(e.message) && !e.message.includes('\n'), yaml);
  }
});
