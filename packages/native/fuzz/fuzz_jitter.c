// libFuzzer harness for the C jitter buffer (src/jitter.c): arbitrary options, packets, times and
// bound changes, under ASan + UBSan. The input is read as a little program:
//   byte 0..3  options (tick, capacity, fec, min/max delay)
//   then ops:  0-4  insert  seq(2) ts(4) ssrc-switch(1) marker(1) dt(1) len(1) payload(len)
//              5-6  pull    dt(1)   (now advances by dt ms, or jumps back / to a huge value)
//              7    set_bounds min(1) max(1)
// Every output must hold exactly tick samples; the stats must stay consistent.
#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "../src/jitter.h"

typedef struct {
  const uint8_t *p;
  size_t n;
} Reader;

static int take(Reader *r, uint8_t *out) {
  if (r->n == 0) return 0;
  *out = *r->p++;
  r->n--;
  return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  Reader r = {data, size};
  uint8_t o[4] = {0};
  for (int i = 0; i < 4; i++)
    if (!take(&r, &o[i])) return 0;
  PnJbOptions opt;
  pn_jb_default_options(&opt);
  static const int ticks[] = {5, 10, 20, 60};
  opt.tick_ms = ticks[o[0] & 3];
  opt.capacity = 16 << (o[0] >> 2 & 3);
  opt.fec = (o[0] & 0x10) != 0;
  opt.min_delay_ms = o[1];
  opt.max_delay_ms = o[1] + (double)o[2] * 4;
  opt.initial_delay_ms = opt.min_delay_ms + (o[3] % 100);
  if (opt.initial_delay_ms > opt.max_delay_ms) opt.initial_delay_ms = opt.max_delay_ms;
  const char *why = NULL;
  PnJb *jb = pn_jb_new(&opt, &why);
  if (!jb) return 0;
  int tick = pn_jb_tick_samples(jb);
  assert(tick > 0 && tick <= 2880);
  int16_t pcm[2880 + 16];
  double now = 1000;
  uint32_t ssrc = 0x1234;
  uint8_t op;
  while (take(&r, &op)) {
    uint8_t b[9];
    switch (op & 7) {
      case 0: case 1: case 2: case 3: case 4: {
        for (int i = 0; i < 9; i++)
          if (!take(&r, &b[i])) goto done;
        uint16_t seq = (uint16_t)(b[0] << 8 | b[1]);
        uint32_t ts = (uint32_t)b[2] << 24 | (uint32_t)b[3] << 16 | (uint32_t)b[4] << 8 | b[5];
        if (b[6] == 0xff) ssrc++;
        now += b[7] & 0x3f;
        size_t len = b[8];
        if (len > r.n) len = r.n;
        int out = pn_jb_insert(jb, seq, ts, ssrc, (op & 8) != 0, r.p, len, now);
        assert(out >= PN_JB_INSERTED && out <= PN_JB_MALFORMED);
        r.p += len;
        r.n -= len;
        break;
      }
      case 5: case 6: {
        uint8_t dt;
        if (!take(&r, &dt)) goto done;
        double at = dt == 0xff ? NAN : dt == 0xfe ? now - 5000 : dt == 0xfd ? 1e15 : now + dt;
        if (dt < 0xfd) now = at;
        pcm[tick] = 0x5a5a;
        int d = pn_jb_pull(jb, at, pcm);
        assert(d >= PN_JB_NORMAL && d <= PN_JB_BUFFERING);
        assert(pcm[tick] == 0x5a5a);  // wrote exactly `tick` samples
        break;
      }
      default: {
        if (!take(&r, &b[0]) || !take(&r, &b[1])) goto done;
        pn_jb_set_bounds(jb, b[0] * 2.0, b[0] * 2.0 + b[1] * 4.0 - 100);
        break;
      }
    }
  }
done:;
  PnJbStats st;
  pn_jb_stats(jb, &st);
  assert(st.packets_played <= st.packets_received + st.fec_recovered + st.plc_packets + 1e9);
  assert(isfinite(st.played_ms) && st.played_ms >= 0);
  pn_jb_free(jb);
  return 0;
}
