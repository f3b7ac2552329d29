/**
 * @parloir/protocol: Signalling message types and runtime validation, shared by server, native client and web UI.
 * @module
 */
export const PACKAGE_NAME = '@parloir/protocol';
