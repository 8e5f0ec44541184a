export { ProcessDriver, type ProcessDriverOptions } from './process-driver.js';
