export { Presence, type PresenceOptions } from './presence.js';
