export { AgentMethods, type AgentMethodsOptions, chunkLines, newestFitting } from './agent-methods.js';
