/** Public interface of report/: every output format lives here and nowhere else. */
export { renderMon, type Rendered } from './mon.js';
export { renderNagios, nagiosUnknown, formatPerf } from './nagios.js';
export { renderJson } from './json.js';
export { behaviourText, captureText, eventLine, eventJson, EVENT_LINE_HEADER, formatDuration, type EventView } from './events.js';
export { escapeText } from './text.js';
