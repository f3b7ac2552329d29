/**
 * @parloir/protocol: signalling message types with runtime validation, and the sans-IO client
 * session core shared by the native client and the web UI. No I/O imports: runs in Node and in
 * the browser.
 * @module
 */
export const PACKAGE_NAME = '@parloir/protocol';
export * from './errors.ts';
export * from './messages.ts';
export * from './identity.ts';
export * from './backoff.ts';
export * from './call-state.ts';
export * from './client-session.ts';
export * from './sas.ts';
export * from './media-binding.ts';
export * from './names.ts';
export * from './control-api.ts';
export { validate, type Schema, type Infer, type Validation } from './schema.ts';
