/**
 * Issue 14, item 6: the API socket is never connectable by others, not even between its
 * creation and the chmod: it is created under a restrictive umask.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync } from 'node:fs';
import { Server } from 'node:net';
import { startDaemon } from './harness.js';

test('with umask 000 the socket is born 0600 (not 0777 until a later chmod), and the umask is given back', async () => {
  const previous = process.umask(0);
  // Record the socket's mode when the server starts listening, before listenUnix goes on.
  const modes: number[] = [];
  const listen = Server.prototype.listen;
  Server.prototype.listen = function (this: Server, ...args: unknown[]) {
    this.once('listening', () => {
      const address = this.address();
      if (typeof address === 'string') modes.push(lstatSync(address).mode & 0o777);
    });
    return (listen as (...a: unknown[]) => Server).apply(this, args);
  } as typeof Server.prototype.listen;
  let h;
  try {
    h = await startDaemon();
  } finally {
    Server.prototype.listen = listen;
  }
  try {
    assert.equal(process.umask(), 0, 'the process umask is back as it was');
    assert.deepEqual(modes, [0o600], 'the socket was 0600 from its creation');
    assert.equal(lstatSync(h.socket).mode & 0o777, 0o600);
  } finally {
    process.umask(previous);
    await h.stop();
  }
});
