export * from './api.js';
export * from './catalog.js';
export * from './codec.js';
export * from './errors.js';
export * from './ids.js';
export * from './messages.js';
export * from './subjects.js';
