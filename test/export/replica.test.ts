/**
 * Reading the fleet stream while one of its replicas is behind (Debian's nats-server, 3 nodes,
 * stream with 3 replicas). A read's ephemeral consumer is placed on any of the stream's servers,
 * and on a replica still applying what the leader stored it reports fewer records pending: a
 * reader that stopped at "nothing pending" returned a silently short read (the cluster test
 * once saw 17,571 of an exporter's events "missing" that way). Both readers, `procwatch fleet`'s
 * and the tests' own, must read to what the leader held when they began.
 */

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { FleetReader, serverOnlyConfig } from '../../src/export/reader.js';
import { NatsCluster, destroyAllClusters, natsServerProblem, readStream } from './nats-harness.js';

after(destroyAllClusters);

const STREAM = 'LAGTEST';
/** This host's records per round, and another host's beside each of them, while a follower is frozen. */
const PER_ROUND = 400;
const FILLER = 400;

test('a read served by a replica that is behind ends only when the stream leader agrees: nothing is cut short', async (t) => {
  if (natsServerProblem() !== null) return t.skip('needs nats-server');
  const cluster = await NatsCluster.start(3);
  await cluster.ready();
  const nc = await connect({ servers: cluster.urls });
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: STREAM, subjects: ['procwatch.>'], num_replicas: 3 });
    const js = jetstream(nc);
    const record = (id: number): string => JSON.stringify({ type: 'event', host: 'lag', time: new Date().toISOString(), id, kind: 'exec' });
    for (let id = 1; id <= 100; id++) await js.publish('procwatch.lag.events.exec', record(id));
    const info = await jsm.streams.info(STREAM);
    // A follower of the stream that is not the cluster's metadata leader: freezing that one would
    // stop every JetStream request until a new one is elected, which is not the case here.
    const metaLeader = cluster.nodes.find((n) => /Self is new JetStream cluster metadata leader/.test(n.log));
    const follower = cluster.nodes.find((n) => n !== metaLeader && info.cluster?.replicas?.some((r) => r.name === n.name));
    assert.ok(metaLeader !== undefined && follower !== undefined, `a follower: ${JSON.stringify(info.cluster)}, metadata leader ${metaLeader?.name}`);

    // A frozen follower misses what comes next (the leader and the other replica are a quorum):
    // this host's records, each among 400 of another host's, so that reads of this host are quick
    // and fit in the time the follower takes to catch up once it runs again. Then reads at once,
    // each consumer on one of the three servers at random, until one began on the follower while
    // it was behind (at most 6 rounds); every read must be complete.
    const served: Array<{ by: string | null; pending: number; stored: number }> = [];
    const met = (): boolean => served.some((s) => s.by === follower.name && s.pending < s.stored);
    const reader = await FleetReader.open({ ...serverOnlyConfig(cluster.urls), stream: STREAM });
    let stored = 100;
    try {
      for (let round = 1; round <= 6 && !met(); round++) {
        follower.pause();
        const others = await connect({ servers: cluster.nodes.filter((n) => n !== follower).map((n) => n.url) });
        try {
          const jsOthers = jetstream(others, { timeout: 30_000 });
          for (let i = 0; i < PER_ROUND; i++) {
            const acks = [jsOthers.publish('procwatch.lag.events.exec', record(++stored))];
            for (let j = 0; j < FILLER; j++) acks.push(jsOthers.publish('procwatch.other.events.exec', '{}'));
            if (i % 20 === 19) await Promise.all(acks);
          }
          await others.flush();
        } finally {
          await others.close();
        }
        follower.resume();
        const fleetRead = async (): Promise<number[]> => {
          const ids: number[] = [];
          await reader.read({ what: 'events', host: 'lag' }, (r) => ids.push(Number((r as unknown as { id: number }).id)), new AbortController().signal);
          return ids;
        };
        const [ours, fleet] = await Promise.all([
          Promise.all(Array.from({ length: 9 }, () => readStream(cluster.urls, STREAM, 'procwatch.lag.events.>'))),
          Promise.all([fleetRead(), fleetRead()]),
        ]);
        for (const back of ours) {
          served.push({ by: back.servedBy, pending: back.pendingAtStart, stored });
          const ids = (back.byHost.get('lag') ?? []).map((r) => Number(r.id));
          assert.deepEqual([ids.length, ids.at(-1)], [stored, stored], `round ${round}: the tests' reader, served by ${back.servedBy} (${back.pendingAtStart} pending there at the start)`);
        }
        for (const ids of fleet) assert.deepEqual([ids.length, ids.at(-1)], [stored, stored], `round ${round}: a fleet read`);
      }
    } finally {
      await reader.close();
    }
    // The case this is about did happen: a read began on the replica that was behind.
    assert.ok(met(), `a read met the replica behind: ${JSON.stringify(served)} (follower ${follower.name})`);
  } finally {
    await nc.close();
  }
});
