import assert from 'node:assert/strict';
import { test } from 'node:test';
import { guessRoc } from './fast-receive.ts';

test('ROC guess of RFC 3711 Appendix A around a sequence wrap', () => {
  // Highest seen in the lower half: a high sequence number belongs to the previous cycle.
  assert.equal(guessRoc(3, 10, 11), 3);
  assert.equal(guessRoc(3, 10, 0xfff0), 2);
  assert.equal(guessRoc(0, 10, 0xfff0), 0xffffffff, 'v = ROC − 1 wraps like a 32-bit counter');
  // Highest seen in the upper half: a low sequence number starts the next cycle.
  assert.equal(guessRoc(3, 0xfff0, 5), 4);
  assert.equal(guessRoc(3, 0xfff0, 0xfff1), 3);
  assert.equal(guessRoc(3, 0x9000, 0x1000), 3, 'within half the space: same cycle');
  assert.equal(guessRoc(0xffffffff, 0xfff0, 1), 0);
});
