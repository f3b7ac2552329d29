/**
 * `npm run bench:jitter`: the jitter-buffer benchmarks. `--quality` and `--loss-protection`
 * (speech quality, with libopus through the addon) run from ./jitter-quality.ts, in the client
 * package, because packages/media may not import the addon; every other mode is
 * packages/media/bench/jitter.ts (delay and late loss in simulated time, no codec).
 */
const codec = process.argv.includes('--quality') || process.argv.includes('--loss-protection');
if (codec) {
  const { main } = await import('./jitter-quality.ts');
  await main();
} else {
  await import('../../media/bench/jitter.ts');
}
