/**
 * Preloaded (`--import`) by scripts/sanitize.ts into the test runner and each test file's
 * process. In a test file's process (NODE_TEST_CONTEXT set) it loads the sanitized addon while
 * PARLOIR_NATIVE_ADDON and LD_PRELOAD are set, then removes both from the environment, so the
 * tools the tests spawn (espeak-ng, sox, aplay) run without the sanitizer runtime (espeak-ng
 * hangs with libasan preloaded) and never load the sanitized addon. The runner keeps both: it
 * passes them on to the file processes.
 */
if (process.env.NODE_TEST_CONTEXT !== undefined) {
  await import('../packages/native/addon.ts');
  delete process.env.LD_PRELOAD;
  delete process.env.PARLOIR_NATIVE_ADDON;
}
