import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import Database from 'better-sqlite3';
const [stream, db] = process.argv.slice(2);
const nc = await connect({ servers: ['127.0.0.1:21001','127.0.0.1:21002','127.0.0.1:21003'] });
const js = jetstream(nc);
const jsm = await jetstreamManager(nc);
const info = await jsm.streams.info(stream);
const total = info.state.messages;
const c = await js.consumers.get(stream, { filter_subjects: 'procwatch.>' });
const ids = []; let n = 0; const types = {};
const it = await c.consume();
for await (const m of it) {
  n++;
  const r = m.json();
  types[r.type] = (types[r.type] ?? 0) + 1;
  if (r.type === 'event') ids.push(r.id);
  if (m.info.pending === 0) break;
}
let ooo = 0, dup = 0; const seen = new Set();
for (let i = 0; i < ids.length; i++) { if (seen.has(ids[i])) dup++; seen.add(ids[i]); if (i && ids[i] <= ids[i-1]) ooo++; }
const d = new Database(db, { readonly: true });
const local = d.prepare('SELECT id FROM events').pluck().all();
const missing = local.filter((id) => !seen.has(id)).length;
console.log({ total, n, types, events: ids.length, dup, ooo, local: local.length, missing, first: ids[0], last: ids.at(-1) });
await nc.close();
