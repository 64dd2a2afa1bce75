/** The command line as ES modules: what bin/procwatch imports for every command but `check`. */

import { main } from './run.js';

await main(process.argv.slice(2));
