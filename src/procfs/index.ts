/** Public interface of procfs/: everything that reads /proc (and passwd/group) goes through here. */
export { ProcReader, ProcTreeError, CLOCK_TICKS_PER_SECOND } from './reader.js';
export { parseStat, isKernelThread, PF_KTHREAD, type ProcStat } from './stat.js';
export { parseStatus, type ProcStatus } from './status.js';
export { parseCmdline } from './cmdline.js';
export { parseLabel, labelDomain } from './label.js';
export { parseNetSockets, isListening, canonicalAddress, type SocketEntry, type SocketProtocol } from './net.js';
export { UserDb, parseIdFile } from './users.js';
export { readDetails } from './details.js';
