// Whether an Opus packet carries in-band FEC (SILK LBRR data), read from the packet itself: the
// encoder's FEC setting shown by its effect, not by what was asked.
//
// RFC 6716 §4.2.3-4.2.4: a SILK-only or hybrid frame (TOC config 0-15) starts its range-coded
// data with one VAD flag per 20 ms SILK frame (one for 10 ms) of the mid channel, then the mid
// channel's LBRR flag, each a bit of probability 1/2. They are decoded here with the first steps
// of the range decoder of §4.1 (as libopus's celt/entdec.c: ec_dec_init, ec_dec_bit_logp,
// ec_dec_normalize). CELT-only packets (config 16-31) never carry LBRR. Only code 0 (one frame)
// and code 1 (two equal frames: the first is read) packets are parsed; others give false.
#ifndef PN_OPUS_LBRR_H
#define PN_OPUS_LBRR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
  const uint8_t *buf;
  size_t len, pos;
  uint32_t rng, val;
  int rem;
} PnEcDec;

static inline int pn_ec_byte(PnEcDec *d) { return d->pos < d->len ? d->buf[d->pos++] : 0; }

static inline void pn_ec_normalize(PnEcDec *d) {
  while (d->rng <= (1u << 23)) {
    d->rng <<= 8;
    int sym = d->rem;
    d->rem = pn_ec_byte(d);
    sym = (sym << 8 | d->rem) >> 1;  // EC_SYM_BITS - EC_CODE_EXTRA = 1
    d->val = ((d->val << 8) + (255u & ~(uint32_t)sym)) & 0x7fffffffu;
  }
}

static inline int pn_ec_bit_half(PnEcDec *d) {
  uint32_t s = d->rng >> 1;
  int ret = d->val < s;
  if (!ret) d->val -= s;
  d->rng = ret ? s : d->rng - s;
  pn_ec_normalize(d);
  return ret;
}

static inline bool pn_opus_has_lbrr(const uint8_t *p, size_t len) {
  if (len < 2) return false;
  int config = p[0] >> 3;
  if (config >= 16) return false;
  size_t n = len - 1;
  switch (p[0] & 3) {
    case 0: break;
    case 1:
      if (n % 2 != 0) return false;
      n /= 2;
      break;
    default: return false;
  }
  if (n == 0) return false;  // a DTX / lost frame: no data
  // SILK frames in this Opus frame: configs 0-11 are 10/20/40/60 ms, hybrid 12-15 are 10/20 ms.
  int ms = config < 12 ? (int[]){10, 20, 40, 60}[config & 3] : (config & 1) ? 20 : 10;
  int silk_frames = ms <= 20 ? 1 : ms / 20;
  PnEcDec d = {.buf = p + 1, .len = n, .pos = 0};
  d.rem = pn_ec_byte(&d);
  d.rng = 1u << 7;
  d.val = d.rng - 1 - (uint32_t)(d.rem >> 1);
  pn_ec_normalize(&d);
  for (int i = 0; i < silk_frames; i++) pn_ec_bit_half(&d);  // VAD flags
  return pn_ec_bit_half(&d) == 1;
}

#endif
