/** Small helpers shared by the query commands. */

import type { Command } from './commander.js';
import { DEFAULT_SOCKET } from '../api/client.js';

export function withSocket(command: Command): Command {
  return command.option('--socket <path>', 'the daemon API socket (env PROCWATCH_SOCKET)', DEFAULT_SOCKET);
}

export function print(text: string): void {
  process.stdout.write(text);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
