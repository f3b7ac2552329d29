/**
 * @parloir/server: Signalling server, presence, calls, chat, persistence and TURN relay.
 * @module
 */
export const PACKAGE_NAME = '@parloir/server';
