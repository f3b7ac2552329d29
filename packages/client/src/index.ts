/**
 * @parloir/client: the native engine and the `parloir` command line.
 * @module
 */
export { main, mainUsage, COMMANDS } from './cli.ts';
export { ClientError, UsageError } from './errors.ts';
