export { prepareStateDir, type StateDirInfo } from './state-dir.js';
