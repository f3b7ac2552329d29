// speexdsp baseline engine: MDF echo canceller + preprocessor, with a far-end ring for the bulk
// delay (speex_echo_cancellation() wants the far frame aligned with the capture frame).
#include "speex_ec.h"

#include <speex/speex_echo.h>
#include <speex/speex_preprocess.h>
#include <stdlib.h>
#include <string.h>

struct PnSpeexEc {
  SpeexEchoState *echo;
  SpeexPreprocessState *pre;
  int frame;
  int ring_len;
  int64_t written;  // far samples pushed so far
  int16_t *ring;
  int16_t *far;
  int16_t *out;
};

PnSpeexEc *pn_spx_new(int rate, int frame, int tail, bool aec, bool ns, bool agc, int ns_db) {
  PnSpeexEc *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->frame = frame;
  s->ring_len = rate * 2;
  s->ring = calloc((size_t)s->ring_len, sizeof(int16_t));
  s->far = calloc((size_t)frame, sizeof(int16_t));
  s->out = calloc((size_t)frame, sizeof(int16_t));
  if (!s->ring || !s->far || !s->out) goto fail;
  if (aec) {
    s->echo = speex_echo_state_init(frame, tail);
    if (!s->echo) goto fail;
    int r = rate;
    speex_echo_ctl(s->echo, SPEEX_ECHO_SET_SAMPLING_RATE, &r);
  }
  if (aec || ns || agc) {
    s->pre = speex_preprocess_state_init(frame, rate);
    if (!s->pre) goto fail;
    int on = ns ? 1 : 0;
    speex_preprocess_ctl(s->pre, SPEEX_PREPROCESS_SET_DENOISE, &on);
    if (ns) {
      int db = -ns_db;
      speex_preprocess_ctl(s->pre, SPEEX_PREPROCESS_SET_NOISE_SUPPRESS, &db);
    }
    int g = agc ? 1 : 0;
    speex_preprocess_ctl(s->pre, SPEEX_PREPROCESS_SET_AGC, &g);
    if (agc) {
      float level = 8000.0f;
      speex_preprocess_ctl(s->pre, SPEEX_PREPROCESS_SET_AGC_LEVEL, &level);
    }
    if (s->echo) speex_preprocess_ctl(s->pre, SPEEX_PREPROCESS_SET_ECHO_STATE, s->echo);
  }
  return s;
fail:
  pn_spx_free(s);
  return NULL;
}

void pn_spx_reverse(PnSpeexEc *s, const int16_t *far) {
  for (int i = 0; i < s->frame; i++) s->ring[(s->written + i) % s->ring_len] = far[i];
  s->written += s->frame;
}

int pn_spx_max_delay(const PnSpeexEc *s) { return s->ring_len - 2 * s->frame; }

void pn_spx_process(PnSpeexEc *s, int16_t *near, int delay) {
  if (s->echo) {
    int64_t start = s->written - s->frame - delay;
    for (int i = 0; i < s->frame; i++) {
      int64_t k = start + i;
      s->far[i] = k < 0 ? 0 : s->ring[k % s->ring_len];
    }
    speex_echo_cancellation(s->echo, near, s->far, s->out);
    memcpy(near, s->out, (size_t)s->frame * sizeof(int16_t));
  }
  if (s->pre) speex_preprocess_run(s->pre, near);
}

void pn_spx_free(PnSpeexEc *s) {
  if (!s) return;
  if (s->pre) speex_preprocess_state_destroy(s->pre);
  if (s->echo) speex_echo_state_destroy(s->echo);
  free(s->ring);
  free(s->far);
  free(s->out);
  free(s);
}
