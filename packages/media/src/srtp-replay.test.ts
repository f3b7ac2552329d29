import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MediaError } from './errors.ts';
import { Prng } from './impairment.ts';
import {
  SRTP_REPLAY_MAX_SSRCS,
  SRTP_REPLAY_WINDOW,
  SrtpReplayList,
  guessRolloverCounter,
  srtpIndex,
} from './srtp-replay.ts';

test('a packet is fresh once; again it is replayed; beyond the window it is too old (RFC 3711 §3.3.2)', () => {
  const list = new SrtpReplayList();
  const ssrc = 0xabc;
  for (let i = 1000; i < 1200; i++) {
    assert.equal(list.check(ssrc, i), 'fresh');
    list.commit(ssrc, i);
  }
  assert.equal(list.check(ssrc, 1199), 'replayed');
  assert.equal(list.check(ssrc, 1199 - SRTP_REPLAY_WINDOW + 1), 'replayed');
  assert.equal(list.check(ssrc, 1199 - SRTP_REPLAY_WINDOW), 'too-old');
  assert.equal(list.check(ssrc, 1199 - 3000), 'too-old');
  assert.equal(list.check(ssrc, 1200), 'fresh');
  assert.equal(list.check(0xdef, 5), 'fresh', 'another SSRC has its own list');
  assert.deepEqual(list.stats, { replayed: 2, tooOld: 2 });
  assert.equal(list.highest(ssrc), 1199);
});

test('a gap stays fresh until it arrives, reordered within the window', () => {
  const list = new SrtpReplayList({ windowPackets: 64 });
  list.commit(1, 10);
  list.commit(1, 70); // 11..69 lost so far
  assert.equal(list.check(1, 11), 'fresh');
  list.commit(1, 11);
  assert.equal(list.check(1, 11), 'replayed');
  assert.equal(list.check(1, 10), 'replayed', '60 behind: inside the window');
  assert.equal(list.check(1, 6), 'too-old', '64 behind: outside, never received or not');
  assert.deepEqual(list.received(1), [10, 11, 70]);
  assert.deepEqual(list.received(2), []);
});

test('matches a reference set of every index received, for random reordering and replays', () => {
  const prng = new Prng(17);
  const list = new SrtpReplayList();
  const seen = new Set<number>();
  let highest = -1;
  let next = 2 ** 32 * 3; // index in the middle of a large ROC: exact in a double
  for (let i = 0; i < 20_000; i++) {
    const r = prng.next();
    const index =
      r < 0.6
        ? next++
        : r < 0.8
          ? next - 1 - Math.floor(prng.next() * 300)
          : next + Math.floor(prng.next() * 50);
    const expected =
      index > highest
        ? 'fresh'
        : highest - index >= SRTP_REPLAY_WINDOW
          ? 'too-old'
          : seen.has(index)
            ? 'replayed'
            : 'fresh';
    assert.equal(list.check(7, index), expected, `packet ${i} index ${index}`);
    if (expected === 'fresh') {
      list.commit(7, index);
      seen.add(index);
      highest = Math.max(highest, index);
    }
  }
});

test('ROC guess of RFC 3711 Appendix A, across the wrap both ways', () => {
  assert.equal(guessRolloverCounter(3, 0xfff0, 0x0005), 4);
  assert.equal(guessRolloverCounter(4, 0x0005, 0xfff0), 3);
  assert.equal(guessRolloverCounter(4, 0x0005, 0x0004), 4);
  assert.equal(guessRolloverCounter(4, 0x9000, 0x8800), 4, '2,048 behind: same ROC');
  assert.equal(guessRolloverCounter(0, 0x0005, 0xfff0), 0xffffffff);
  assert.equal(srtpIndex(4, 0x0005), 4 * 65536 + 5);
});

test('the list keeps at most 16 SSRCs, the least recently received going first', () => {
  const list = new SrtpReplayList();
  for (let s = 0; s <= SRTP_REPLAY_MAX_SSRCS; s++) list.commit(s, 100);
  assert.equal(list.highest(0), undefined);
  assert.equal(list.highest(1), 100);
  assert.equal(list.highest(SRTP_REPLAY_MAX_SSRCS), 100);
});

test('a window outside 64..32,768 is a typed error', () => {
  for (const w of [0, 63, 32_769, 100.5, Number.NaN]) {
    assert.throws(
      () => new SrtpReplayList({ windowPackets: w }),
      (e: unknown) => e instanceof MediaError && e.code === 'MEDIA_ERR_BAD_OPTION',
    );
  }
});
