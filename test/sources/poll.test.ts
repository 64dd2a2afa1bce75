import { PollSource } from '../../src/sources/index.js';
import { runSourceContract } from './contract.js';

runSourceContract({
  name: 'poll',
  create: () => new PollSource({ intervalMs: 100 }),
  lifetimeSeconds: 0.6,
  startKinds: ['inferred_start'],
  endKinds: ['inferred_exit'],
});
