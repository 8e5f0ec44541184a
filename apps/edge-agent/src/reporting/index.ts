export {
  buildReportedState,
  REPORT_DEBOUNCE_MS,
  type ReportedState,
  type ReportSource,
  StateReporter,
  type StateReporterOptions,
} from './reporter.js';
