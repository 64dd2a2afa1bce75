/** Public interface of report/: every output format lives here and nowhere else. */
export { renderMon, type Rendered } from './mon.js';
export { renderNagios, nagiosUnknown, formatPerf } from './nagios.js';
export { renderJson } from './json.js';
export {
  apiEventLine, behaviourText, captureText, commandText, eventLine, eventLineHeader, eventJson, EVENT_LINE_HEADER, WATCH_LINE, formatDuration,
  type EventLineOptions, type EventView,
} from './events.js';
export { escapeText, escapeOr, shellWord, commandLine } from './text.js';
export { PLAIN, colorAllowed, fitLine, fitText, paint, SGR, terminalStyle, type TextStyle } from './terminal.js';
export { LOCAL, clockTime, dateTime, humanDuration, isoDateTime, signalName, type TimeStyle } from './time.js';
